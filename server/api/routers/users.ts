import { createUserAccount, listUsers, setUserRole } from '@/server/users/users';
import { CreateUserInput, SetRoleInput } from '@/server/users/schemas';
import { roleProcedure, router } from '../trpc';

export const usersRouter = router({
  list: roleProcedure('admin').query(({ ctx }) => listUsers({ ctx: ctx.service })),
  create: roleProcedure('admin')
    .input(CreateUserInput)
    .mutation(({ ctx, input }) => createUserAccount({ ctx: ctx.service, input })),
  setRole: roleProcedure('admin').input(SetRoleInput).mutation(({ ctx, input }) => setUserRole({ ctx: ctx.service, input })),
});
