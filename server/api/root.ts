import { createCallerFactory, router } from './trpc';
import { auditRouter } from './routers/audit';
import { inventoryRouter } from './routers/inventory';
import { jobsRouter } from './routers/jobs';
import { labRouter } from './routers/lab';
import { overviewRouter } from './routers/overview';
import { policiesRouter } from './routers/policies';
import { proxiesRouter } from './routers/proxies';
import { restoresRouter } from './routers/restores';
import { sessionRouter } from './routers/session';
import { storageUnitsRouter } from './routers/storage-units';
import { usersRouter } from './routers/users';

export const appRouter = router({
  session: sessionRouter,
  overview: overviewRouter,
  inventory: inventoryRouter,
  jobs: jobsRouter,
  restores: restoresRouter,
  policies: policiesRouter,
  storageUnits: storageUnitsRouter,
  lab: labRouter,
  proxies: proxiesRouter,
  audit: auditRouter,
  users: usersRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
