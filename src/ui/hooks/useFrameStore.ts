/**
 * Reads the store at most once per animation frame (zustand "transient updates" + React's external-store
 * hook): the worker can post rows far faster than a person can read them, so React re-renders per frame,
 * never per row. The selector must return a primitive or a reference the store already holds.
 */
import { useSyncExternalStore } from 'react';
import { appStore, type AppState } from '../store/store.ts';

/** Subscribes `onChange` to the store, coalescing every change within a frame into one call. */
export function subscribePerFrame(onChange: () => void): () => void {
  let frame = 0;
  const unsubscribe = appStore.subscribe(() => {
    if (frame === 0) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        onChange();
      });
    }
  });
  return () => {
    unsubscribe();
    cancelAnimationFrame(frame);
  };
}

export function useFrameStore<T>(selector: (s: AppState) => T): T {
  return useSyncExternalStore(subscribePerFrame, () => selector(appStore.getState()));
}
