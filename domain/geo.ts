/**
 * Vietnamese provinces: where they are and which delivery region they belong to. Used to decide
 * whether an address is deliverable and how far each warehouse is from it.
 */
export type Region = 'north' | 'central' | 'south';

interface Province {
  name: string;
  region: Region;
  lat: number;
  lng: number;
}

const PROVINCES: Province[] = [
  { name: 'Ha Noi', region: 'north', lat: 21.0285, lng: 105.8542 },
  { name: 'Hai Phong', region: 'north', lat: 20.8449, lng: 106.6881 },
  { name: 'Quang Ninh', region: 'north', lat: 21.0064, lng: 107.2925 },
  { name: 'Bac Ninh', region: 'north', lat: 21.1861, lng: 106.0763 },
  { name: 'Thai Nguyen', region: 'north', lat: 21.5942, lng: 105.8482 },
  { name: 'Nam Dinh', region: 'north', lat: 20.4388, lng: 106.1621 },
  { name: 'Thanh Hoa', region: 'central', lat: 19.8067, lng: 105.7852 },
  { name: 'Nghe An', region: 'central', lat: 18.6796, lng: 105.6813 },
  { name: 'Hue', region: 'central', lat: 16.4637, lng: 107.5909 },
  { name: 'Da Nang', region: 'central', lat: 16.0544, lng: 108.2022 },
  { name: 'Quang Nam', region: 'central', lat: 15.5394, lng: 108.0191 },
  { name: 'Khanh Hoa', region: 'central', lat: 12.2388, lng: 109.1967 },
  { name: 'Lam Dong', region: 'central', lat: 11.9404, lng: 108.4583 },
  { name: 'Ho Chi Minh', region: 'south', lat: 10.7769, lng: 106.7009 },
  { name: 'Binh Duong', region: 'south', lat: 11.3254, lng: 106.477 },
  { name: 'Dong Nai', region: 'south', lat: 10.9574, lng: 106.8427 },
  { name: 'Ba Ria - Vung Tau', region: 'south', lat: 10.5417, lng: 107.2429 },
  { name: 'Can Tho', region: 'south', lat: 10.0452, lng: 105.7469 },
  { name: 'Long An', region: 'south', lat: 10.6956, lng: 106.2431 },
  { name: 'An Giang', region: 'south', lat: 10.5216, lng: 105.1259 },
];

const ALIASES: Record<string, string> = {
  hanoi: 'ha noi',
  'tp ha noi': 'ha noi',
  saigon: 'ho chi minh',
  hcm: 'ho chi minh',
  hcmc: 'ho chi minh',
  'tp ho chi minh': 'ho chi minh',
  'thanh pho ho chi minh': 'ho chi minh',
  'ho chi minh city': 'ho chi minh',
  'thua thien hue': 'hue',
  danang: 'da nang',
  'vung tau': 'ba ria - vung tau',
};

/** Lower case, no diacritics, no punctuation: "Hà Nội" → "ha noi". */
export function normalizePlace(s: string): string {
  const plain = s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/gi, 'd')
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^(tinh|thanh pho|tp) /, '');
  return ALIASES[plain] ?? plain;
}

const BY_NAME = new Map(PROVINCES.map((p) => [normalizePlace(p.name), p]));

export function findProvince(name: string | undefined): Province | undefined {
  return name ? BY_NAME.get(normalizePlace(name)) : undefined;
}

export interface Destination {
  region: Region | undefined;
  lat: number | undefined;
  lng: number | undefined;
}

/** Where an address is: its province (`region` field, else city) or explicit coordinates. */
export function locate(address: {
  city: string;
  region?: string | undefined;
  country: string;
  lat?: number | undefined;
  lng?: number | undefined;
}): Destination {
  if (address.country.toUpperCase() !== 'VN') return { region: undefined, lat: undefined, lng: undefined };
  const p = findProvince(address.region) ?? findProvince(address.city);
  return { region: p?.region, lat: address.lat ?? p?.lat, lng: address.lng ?? p?.lng };
}

/** Great-circle distance in km. */
export function distanceKm(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}
