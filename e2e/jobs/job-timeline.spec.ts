import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[JOBS]: a DirectSAN backup of a write-back VM shows its timeline: transport and why, write-through window, snapshot and stun', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Inventory' }).click();
  await page.getByRole('navigation', { name: 'Inventory tree' }).getByRole('link', { name: /web-02/ }).click();
  await expect(page.getByRole('heading', { name: 'web-02' })).toBeVisible();
  await expect(page.getByText(/write-back, 1 peer/)).toBeVisible();
  await page.getByRole('button', { name: 'Back up now' }).click();
  const live = page.locator('[aria-live="polite"]').filter({ hasText: 'Backup of web-02' });
  await expect(live.getByText('Succeeded')).toBeVisible({ timeout: 150_000 });
  await live.getByRole('link', { name: 'Open job' }).click();

  await expect(page.getByRole('heading', { name: 'backup.vm · web-02' })).toBeVisible();
  await expect(page.getByText('directsan via phys-proxy-01', { exact: true })).toBeVisible();
  const plan = page.getByTestId('step-run-plan');
  await expect(plan.getByText('Why')).toBeVisible();
  const cache = page.getByTestId('step-run-cache');
  await expect(cache.getByText('Write-back barrier')).toBeVisible();
  await expect(cache.getByText('yes', { exact: true })).toBeVisible();
  await expect(page.getByTestId('step-run-uncache').getByText('Write-through window')).toBeVisible();
  const release = page.getByTestId('step-run-release');
  await expect(release.getByText('Snapshot lifetime')).toBeVisible();
  await expect(release.getByText(/pass\(es\), stun/)).toBeVisible();
  await expect(page.getByText('Write-through window', { exact: true }).first()).toBeVisible();
  await expect(page.getByText('Stun', { exact: true })).toBeVisible();
  await expect(page.getByTestId('step-run-snapshot').getByText(/-consistent/)).toBeVisible();
});
