/* Paged listings (a store's list, a catalog's scan): the continuation
 * token a call hands back for the next page, in one place so that both
 * back ends of each end a page alike. */
#ifndef TFS_PAGE_H
#define TFS_PAGE_H

/* Ends one page after its callbacks ran: the caller's *token (freed)
 * becomes next, or NULL (next freed) when rc is not 0, since a callback
 * that stopped the walk ends it. Takes next (malloc'ed, or NULL at the
 * end of the listing). */
void tfs_page_next(char **token, char *next, int rc);

#endif
