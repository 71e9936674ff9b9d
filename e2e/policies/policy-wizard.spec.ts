import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[POLICIES]: create a policy with the wizard, validate it against the live lab, see the per-VM report', async ({ page }, testInfo) => {
  // Policy names are unique: a retry on the same server makes another one.
  const name = `e2e-web-tier${testInfo.retry ? `-${testInfo.retry}` : ''}`;
  await signIn(page);
  await page.getByRole('link', { name: 'Policies' }).click();
  await page.getByRole('link', { name: 'New policy' }).click();
  const steps = page.getByRole('navigation', { name: 'Policy steps' });
  await expect(steps.getByRole('button', { name: /Schedule/ })).toHaveAttribute('aria-current', 'step');

  // A step is checked before the next: no name, a broken cron.
  await page.getByLabel('Schedule (cron)').fill('every four hours');
  await page.getByRole('button', { name: 'Next: VMs' }).click();
  await expect(page.getByText('Enter a name')).toBeVisible();
  await expect(steps.getByRole('button', { name: /Schedule/ })).toHaveAttribute('aria-current', 'step');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Schedule (cron)').fill('30 2 * * *');
  await page.getByRole('button', { name: 'Next: VMs' }).click();

  // VMs by name pattern, evaluated at run time; the preview shows what it selects now.
  await page.getByRole('button', { name: 'Next: Target and transport' }).click();
  await expect(page.getByText('Select at least one VM: by name, folder, tag or name pattern')).toBeVisible();
  await page.getByLabel('Name pattern').fill('web-*');
  await expect(page.getByText(/Selects now: web-01, web-02, web-03/)).toBeVisible();
  await page.getByRole('button', { name: 'Next: Target and transport' }).click();

  // HotAdd first: the report must then speak of the cache blacklist.
  await page.getByRole('button', { name: 'Move HotAdd up' }).click();
  await page.getByRole('button', { name: 'Next: Safety and limits' }).click();
  await page.getByLabel('Write-back timeout (s)').fill('90');
  await page.getByRole('button', { name: 'Next: Review and validate' }).click();

  const summary = page.getByLabel('Policy summary');
  await expect(summary.getByText('hotadd → directsan → nbd')).toBeVisible();
  await expect(summary.getByText('90 s')).toBeVisible();
  await page.getByRole('button', { name: 'Validate', exact: true }).click();
  const report = page.getByRole('table', { name: 'Validation' });
  for (const vm of ['web-01', 'web-02', 'web-03']) await expect(report.locator(`tr[data-vm="${vm}"]`)).toBeVisible();
  // web-01 runs on esx-01 with proxy-01, which the lab's cache has on its blacklist.
  await expect(report.locator('tr[data-vm="web-01"]')).toContainText('hotadd via proxy-01');
  await expect(report.locator('tr[data-vm="web-01"]')).toContainText('blacklisted');

  await page.getByRole('button', { name: 'Create policy' }).click();
  await expect(page.getByRole('heading', { name, exact: true })).toBeVisible();
  await page.getByRole('link', { name: 'Policies' }).click();
  await expect(page.getByRole('link', { name, exact: true })).toBeVisible();
});
