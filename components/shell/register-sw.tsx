'use client';

import { useEffect } from 'react';

/** Register the service worker that makes the console installable (push comes through it later). */
export function RegisterServiceWorker() {
  useEffect(() => {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
    void navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  }, []);
  return null;
}
