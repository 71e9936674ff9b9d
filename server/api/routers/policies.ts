import { z } from 'zod';
import { createPolicy, deletePolicy, getPolicy, listPolicies, previewSelection, updatePolicy } from '@/server/policies/policies';
import { CreatePolicyInput, PolicyIdInput, PreviewSelectionInput, UpdatePolicyInput } from '@/server/policies/schemas';
import { validatePolicy, ValidatePolicyInput } from '@/server/policies/validate';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const policiesRouter = router({
  list: protectedProcedure.query(({ ctx }) => listPolicies({ ctx: ctx.service })),
  get: protectedProcedure.input(PolicyIdInput).query(({ ctx, input }) => getPolicy({ ctx: ctx.service, input })),
  create: roleProcedure('admin').input(CreatePolicyInput).mutation(({ ctx, input }) => createPolicy({ ctx: ctx.service, input })),
  update: roleProcedure('admin').input(UpdatePolicyInput).mutation(({ ctx, input }) => updatePolicy({ ctx: ctx.service, input })),
  delete: roleProcedure('admin')
    .input(PolicyIdInput.extend({ confirm: z.string() }))
    .mutation(({ ctx, input }) => deletePolicy({ ctx: ctx.service, input })),
  validate: protectedProcedure.input(ValidatePolicyInput).query(({ ctx, input }) => validatePolicy({ ctx: ctx.service, input })),
  previewSelection: protectedProcedure.input(PreviewSelectionInput).query(({ ctx, input }) => previewSelection({ ctx: ctx.service, input })),
});
