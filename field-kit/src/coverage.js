// The coverage window the service accepts: a start month from `backdate_months` before the current month to
// `advance_months` after it, and at most the months left in that fiscal year (January to December).

export function monthIndex(year, month) { return year * 12 + month - 1; }

export function monthText(index) {
  return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String(index % 12 + 1).padStart(2, '0')}`;
}

export function startMonths(today, rules) {
  const current = monthIndex(today.year, today.month);
  const months = [];
  for (let i = current - rules.backdate_months; i <= current + rules.advance_months; i++) months.push(monthText(i));
  return months;
}

export function monthsLeft(startMonth) { return 13 - Number(startMonth.slice(5, 7)); }

// Today's date where the fiscal calendar is kept (WIB), whatever the phone's own time zone.
export function todayInJakarta(now = new Date()) {
  const shifted = new Date(now.getTime() + 7 * 3600 * 1000);
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}
