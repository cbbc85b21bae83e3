/* libFuzzer target for the DynamoDB catalog item decoding
 * (cache/catalog/catalog_ddb_i.h): any JSON attribute map either decodes into a
 * well-formed struct cat_item or is refused with -EIO. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/catalog/catalog_ddb_i.h"
#include "s3/base/log.h"
#include "s3/wire/ddb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	tfs_log_set_level(LOG_CRIT);
	return 0;
}

static void must_terminate(const char *buf, size_t size)
{
	if (strnlen(buf, size) >= size)
		abort();
}

static void must_be_hex(const char *h)
{
	for (; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			abort();
}

static void check_item(json_t *item)
{
	struct cat_item it;
	json_t *hist;
	int rc, k;

	memset(&it, 'x', sizeof(it));
	rc = catalog_ddb_decode_item(item, &it);
	if (rc != 0 && rc != -EIO)
		abort();
	if (rc != 0)
		return;
	must_terminate(it.id, sizeof(it.id));
	must_terminate(it.owner, sizeof(it.owner));
	must_terminate(it.hash, sizeof(it.hash));
	must_terminate(it.want, sizeof(it.want));
	if (it.id[0] == '\0')
		abort();
	must_be_hex(it.hash);
	if (it.n_hist < 0 || it.n_hist > CAT_HIST_MAX)
		abort();
	for (k = 0; k < it.n_hist; k++) {
		must_terminate(it.hist[k].hash, sizeof(it.hist[k].hash));
		must_be_hex(it.hist[k].hash);
	}
	/* What decodes must also encode back. */
	hist = catalog_ddb_hist_push(&it, 1, it.gen + 1, it.hash);
	if (!hist)
		abort();
	json_decref(hist);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *reply = NULL, *items;
	size_t k;

	if (ddb_decode_reply((const char *)data, size, &reply) != WIRE_OK)
		return 0;
	/* A bare attribute map, a GetItem reply or a Scan page. */
	check_item(reply);
	if (json_object_get(reply, "Item"))
		check_item(json_object_get(reply, "Item"));
	items = json_object_get(reply, "Items");
	for (k = 0; json_is_array(items) && k < json_array_size(items); k++)
		check_item(json_array_get(items, k));
	json_decref(reply);
	return 0;
}
