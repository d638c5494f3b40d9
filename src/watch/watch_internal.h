/* watch_internal.h - internals of the watcher (src/watch/). */
#ifndef COFFER_WATCH_INTERNAL_H
#define COFFER_WATCH_INTERNAL_H

#include "internal.h"

/* True if the store's watch runs in polling mode (COFFER_WATCH_POLL, no
 * inotify on this platform, or inotify could not be initialised). */
COFFER_INTERNAL bool coffer_watch_is_polling(coffer_store *s);

#endif /* COFFER_WATCH_INTERNAL_H */
