import { expect, test } from '@playwright/test';
import { admin } from '../fixtures/auth';

test('[AUTH]: an anonymous visit is sent to sign-in, and a wrong password is refused with a message', async ({ page }) => {
  await page.goto('/jobs');
  await expect(page).toHaveURL(/\/sign-in/);
  await page.getByLabel('E-mail').fill(admin.email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('Wrong e-mail or password.')).toBeVisible();
  await expect(page).toHaveURL(/\/sign-in/);
});

test('[AUTH]: the API refuses anonymous calls', async ({ request }) => {
  const res = await request.get('/api/trpc/jobs.list?input=%7B%22json%22%3A%7B%7D%7D');
  expect(res.status()).toBe(401);
});
