/* Paged listings (page.h): the continuation token, passed on once. */
#include "s3/base/page.h"

#include <stdlib.h>

void tfs_page_next(char **token, char *next, int rc)
{
	if (rc) {
		free(next);
		next = NULL;
	}
	free(*token);
	*token = next;
}
