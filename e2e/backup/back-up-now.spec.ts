import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[BACKUP]: back up a VM now, watch the job succeed, restore a disk and see it verified', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Inventory' }).click();
  await page.getByRole('navigation', { name: 'Inventory tree' }).getByRole('link', { name: /dc-01/ }).click();
  await expect(page.getByRole('heading', { name: 'dc-01' })).toBeVisible();
  await page.getByRole('button', { name: 'Back up now' }).click();
  const live = page.locator('[aria-live="polite"]').filter({ hasText: 'Backup of dc-01' });
  await expect(live).toBeVisible();
  await expect(live.getByText('Succeeded')).toBeVisible({ timeout: 120_000 });
  const pointId = (await live.getByTestId('new-restore-point').textContent())!.trim();

  // The new restore point appears in the list: restore its disk 0 and wait for the verdict.
  const row = page.locator(`[data-point-id="${pointId}"]`);
  await expect(row).toBeVisible({ timeout: 30_000 });
  await row.getByRole('button', { name: 'Restore disk 0' }).click();
  await expect(row.getByText('Disk 0 restored and verified')).toBeVisible({ timeout: 120_000 });
});
