import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[PROXIES]: removing a proxy from the cache blacklist needs its name typed, then the page warns; both changes are audited', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Proxies' }).click();
  const row = page.getByRole('table', { name: 'Proxies' }).getByRole('row').filter({ hasText: 'proxy-01' }).filter({ hasNotText: 'phys-proxy-01' });
  await expect(row.getByText('Blacklisted', { exact: true })).toBeVisible();

  await row.getByRole('button', { name: 'Remove from blacklist' }).click();
  const dialog = page.getByRole('dialog', { name: 'Remove from blacklist proxy-01' });
  const confirm = dialog.getByRole('button', { name: 'Remove from blacklist' });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel('Type proxy-01 to confirm').fill('proxy-0');
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel('Type proxy-01 to confirm').fill('proxy-01');
  await confirm.click();

  await expect(row.getByText('Not blacklisted')).toBeVisible();
  await expect(row.getByText(/HotAdd/)).toBeVisible();

  // Put it back, as the lab's workloads expect, and find both changes in the audit log.
  await row.getByRole('button', { name: 'Add to blacklist' }).click();
  await expect(row.getByText('Blacklisted', { exact: true })).toBeVisible();
  await page.getByRole('link', { name: 'Audit' }).click();
  await expect(page.getByText('blacklist.remove').first()).toBeVisible();
  await expect(page.getByText('blacklist.add').first()).toBeVisible();
});
