// Phone numbers as the service normalises them (lokal-id's parse_phone): 0812…, 62812…, +62812… or a landline;
// the E.164 form is what is sent, the national form what the officer sees.

const CLEAN = /[\s().\-]/g;

export function readPhone(text) {
  const clean = String(text).trim().replace(CLEAN, '');
  let rest;
  if (clean.startsWith('+62')) rest = clean.slice(3);
  else if (clean.startsWith('62') && clean.length >= 10) rest = clean.slice(2);
  else if (clean.startsWith('0')) rest = clean.slice(1);
  else if (clean.startsWith('8')) rest = clean;
  else return { e164: null, code: 'invalid_phone' };
  rest = rest.replace(/^0+/, '');
  if (!/^[0-9]+$/.test(rest)) return { e164: null, code: 'invalid_phone' };
  if (rest.startsWith('8')) {
    if (rest.length < 9 || rest.length > 12) return { e164: null, code: 'invalid_phone' };
    const national = `0${rest}`;
    return { e164: `+62${rest}`, national: `${national.slice(0, 4)}-${national.slice(4, 8)}-${national.slice(8)}` };
  }
  if ('2345679'.includes(rest[0])) {
    if (rest.length < 7 || rest.length > 11) return { e164: null, code: 'invalid_phone' };
    return { e164: `+62${rest}`, national: `0${rest}` };
  }
  return { e164: null, code: 'invalid_phone' };
}
