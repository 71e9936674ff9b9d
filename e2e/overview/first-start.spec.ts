import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[OVERVIEW]: the first start shows the lab and backs it up without a click', async ({ page }) => {
  await signIn(page);
  await expect(page.getByRole('heading', { name: 'Overview', exact: true })).toBeVisible();
  await page.getByRole('link', { name: 'Inventory' }).click();
  const tree = page.getByRole('navigation', { name: 'Inventory tree' });
  await expect(tree.getByText('vcenter.lab.local')).toBeVisible();
  await expect(tree.getByRole('link', { name: /web-01/ })).toBeVisible();
  // The default policy's first run started by itself: at least one backup has succeeded.
  await page.getByRole('link', { name: 'Jobs' }).click();
  await page.getByLabel('Status').selectOption('succeeded');
  await expect(page.getByRole('table', { name: 'Jobs' }).getByRole('link', { name: 'backup.vm' }).first()).toBeVisible({ timeout: 90_000 });
});
