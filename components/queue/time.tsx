'use client';

import { useEffect, useState } from 'react';

/** The current time, ticking every `ms` (one timer per component). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}:${String(seconds % 60).padStart(2, '0')}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d`;
}

export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

/** Time left before a request expires, urgent under a minute. */
export function Countdown({ expiresAt, now }: { expiresAt: string; now: number }) {
  const left = new Date(expiresAt).getTime() - now;
  // server and browser clocks render different text: the browser's wins without a hydration error
  if (left <= 0)
    return (
      <span className="countdown countdown-over" suppressHydrationWarning>
        expiring
      </span>
    );
  return (
    <span className={left < 60_000 ? 'countdown countdown-urgent' : 'countdown'} suppressHydrationWarning>
      <span className="visually-hidden">time left </span>
      {formatDuration(left)} left
    </span>
  );
}
