import { z } from 'zod';
import { CreateUserInput } from '@/server/auth/users';
import { ROLES } from '@/server/context';

export { CreateUserInput };

export const SetRoleInput = z.object({ userId: z.string().min(1), role: z.enum(ROLES) });
export type SetRoleInput = z.infer<typeof SetRoleInput>;
