import { expect, test } from '@playwright/test';
import { signIn } from '../fixtures/auth';

test('[LAB]: inject a fault from the Lab page and see the event', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Lab' }).click();
  await expect(page.getByRole('heading', { name: 'Lab', exact: true })).toBeVisible();
  await expect(page.getByText('Proxy blacklist (as the cache sees it)')).toBeVisible();
  await page.getByLabel('Fault VM').selectOption('web-02');
  await page.getByRole('button', { name: 'Reset CBT' }).click();
  const events = page.getByRole('list', { name: 'Lab events' });
  await expect(events.getByText('Changed-block tracking of web-02 was reset')).toBeVisible();
  await page.getByLabel('Fault host').selectOption('esx-03');
  await page.getByRole('button', { name: 'Slow destage' }).click();
  await expect(events.getByText(/Destage on esx-03 slowed/)).toBeVisible();
});
