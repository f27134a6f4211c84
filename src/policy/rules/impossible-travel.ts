import { z } from 'zod';
import type { GeoPoint } from '../types.js';
import type { CompileEnv, Condition, Evaluation } from './condition.js';
import { strictObject } from './parts.js';

/** `impossible_travel: true`: this and the previous successful sign-in are too far apart for the time between them. */
export const impossibleTravelSchema = z.boolean();

/** The top-level `impossible_travel` settings. */
export const impossibleTravelSettingsSchema = strictObject({
  /** faster than this between two sign-ins is impossible (900 km/h: an airliner) */
  max_speed_kmh: z.number().positive().default(900),
  /** nearer than this is within the accuracy of locating an address, never travel */
  min_distance_km: z.number().nonnegative().default(100),
});

const EARTH_RADIUS_KM = 6371.0088;
const rad = Math.PI / 180;

/** Great-circle distance (haversine). */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

interface Journey {
  km: number;
  hours: number;
  kmh: number;
}

function journey(e: Evaluation): Journey | undefined {
  const { location, previous, now } = e.ctx;
  if (!location || !previous?.location) return undefined;
  const km = distanceKm(previous.location, location);
  const hours = Math.max(0, now - previous.at) / 3_600_000;
  return { km, hours, kmh: hours > 0 ? km / hours : km > 0 ? Infinity : 0 };
}

function duration(hours: number): string {
  const minutes = Math.round(hours * 60);
  return minutes < 120 ? `${minutes} min` : `${Math.round(hours)} h`;
}

export function compileImpossibleTravel(
  expected: boolean,
  env: Pick<CompileEnv, 'impossibleTravel'>,
): Condition {
  const { maxSpeedKmh, minDistanceKm } = env.impossibleTravel;
  const detected = (j: Journey | undefined) =>
    j !== undefined && j.km >= minDistanceKm && j.kmh > maxSpeedKmh;
  return {
    holds: (e) => detected(journey(e)) === expected,
    explain: (e) => {
      const j = journey(e);
      if (!j) {
        return `impossible travel not detected: ${e.ctx.location ? 'no previous sign-in with a location' : 'no location for this address'}`;
      }
      const speed = Number.isFinite(j.kmh) ? `${Math.round(j.kmh)} km/h` : 'at once';
      const from = e.ctx.previous?.country ?? 'unknown';
      const verdict = detected(j)
        ? `faster than ${maxSpeedKmh} km/h`
        : j.km < minDistanceKm
          ? `nearer than ${minDistanceKm} km`
          : `not faster than ${maxSpeedKmh} km/h`;
      return `travel from ${from} to ${e.ctx.country}: ${Math.round(j.km)} km in ${duration(j.hours)} (${speed}), ${verdict}`;
    },
  };
}
