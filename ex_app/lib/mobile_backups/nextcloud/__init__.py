"""Everything that exists only for the ExApp: the worker, WebDAV store, queue, settings, routes, pages, occ."""
