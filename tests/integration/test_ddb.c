/* Integration test of the DynamoDB client against real peers on loopback:
 * moto_server ($TFS_TEST_MOTO) and dynalite ($TFS_TEST_DYNALITE), each run
 * when its variable is set (exit 77 when neither is). Tables, item round
 * trips, conditional writes that fail and leave the item alone, errors,
 * and a Scan over several pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3/base/log.h"
#include "s3/wire/creds.h"
#include "s3/wire/ddb.h"
#include "s3/wire/http.h"
#include "tests/unit/tap.h"

static json_t *key_of(const char *id)
{
	return json_pack("{s:o}", "id", ddb_av_s(id));
}

static void test_tables(struct ddb_client *d, const char *peer, const char *table)
{
	struct wire_error err;
	char status[32];
	enum wire_status st;

	st = ddb_describe_table(d, table, status, &err);
	TAP_OK(st == WIRE_NO_TABLE, "%s: DescribeTable of a missing table is no-table (got %s)",
	       peer, wire_status_str(st));
	TAP_STREQ(err.code, "ResourceNotFoundException", "missing table error type");
	st = ddb_create_table(d, table, &err);
	TAP_OK(st == WIRE_OK, "%s: CreateTable (got %s)", peer, wire_status_str(st));
	st = ddb_create_table(d, table, &err);
	TAP_OK(st == WIRE_OK, "%s: CreateTable of an existing table is ok (got %s)", peer,
	       wire_status_str(st));
	st = ddb_wait_active(d, table, 30000, &err);
	TAP_OK(st == WIRE_OK, "%s: table becomes ACTIVE (got %s)", peer, wire_status_str(st));
	st = ddb_describe_table(d, table, status, &err);
	TAP_OK(st == WIRE_OK && strcmp(status, "ACTIVE") == 0, "%s: DescribeTable says %s", peer,
	       status);
	st = ddb_create_table(d, "x", &err);
	TAP_OK(st == WIRE_INVALID, "%s: a bad table name is refused locally", peer);
}

static void test_items(struct ddb_client *d, const char *peer, const char *table)
{
	struct wire_error err;
	enum wire_status st;
	json_t *item, *key, *got = NULL, *attrs = NULL, *before = NULL, *vals;
	struct ddb_cond cond = {0};
	uint64_t v = 0;

	key = key_of("item-1");
	item = json_pack("{s:o, s:o, s:o, s:{s:[s,s]}}", "id", ddb_av_s("item-1"), "v",
			 ddb_av_n_u64(1), "s", ddb_av_s("hello \"world\" \xc3\xa9"), "l", "SS", "a",
			 "b");
	st = ddb_put_item(d, table, item, NULL, NULL, &err);
	TAP_OK(st == WIRE_OK, "%s: PutItem (got %s)", peer, wire_status_str(st));
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_OK && json_equal(got, item), "%s: GetItem returns what was put", peer);
	json_decref(got);

	/* Conditional put on an existing id fails with its own status. */
	cond.condition = "attribute_not_exists(id)";
	st = ddb_put_item(d, table, item, &cond, NULL, &err);
	TAP_OK(st == WIRE_CONDITION_FAILED, "%s: conditional PutItem fails (got %s)", peer,
	       wire_status_str(st));
	TAP_STREQ(err.code, "ConditionalCheckFailedException", "condition failure type");
	TAP_OK(err.http_status == 400, "%s: condition failure is http 400", peer);

	/* Conditional update that holds. */
	vals = json_pack("{s:o, s:o}", ":one", ddb_av_n_u64(1), ":two", ddb_av_n_u64(2));
	cond = (struct ddb_cond){"#v = :one", json_pack("{s:s}", "#v", "v"), vals, "ALL_NEW"};
	st = ddb_update_item(d, table, key, "SET #v = :two", &cond, &attrs, &err);
	TAP_OK(st == WIRE_OK && ddb_av_get_u64(attrs, "v", &v) == 0 && v == 2,
	       "%s: conditional UpdateItem returns ALL_NEW (v %llu)", peer, (unsigned long long)v);
	json_decref(attrs);
	attrs = NULL;

	/* The same update again: the condition no longer holds. */
	ddb_get_item(d, table, key, &before, &err);
	st = ddb_update_item(d, table, key, "SET #v = :two", &cond, &attrs, &err);
	TAP_OK(st == WIRE_CONDITION_FAILED && !attrs,
	       "%s: failing conditional UpdateItem gives condition-failed (got %s)", peer,
	       wire_status_str(st));
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_OK && before && json_equal(got, before),
	       "%s: the failed update left the item unchanged", peer);
	json_decref(got);
	json_decref(before);
	json_decref(cond.names);
	json_decref(cond.values);

	/* An update conditioned on existence does not create the item. */
	{
		json_t *k2 = key_of("item-absent"), *n = json_pack("{s:s}", "#v", "v"),
		       *vv = json_pack("{s:o}", ":one", ddb_av_n_u64(1));
		struct ddb_cond c2 = {"attribute_exists(id)", NULL, vv, NULL};

		c2.names = n;
		st = ddb_update_item(d, table, k2, "SET #v = :one", &c2, NULL, &err);
		TAP_OK(st == WIRE_CONDITION_FAILED, "%s: update of an absent item fails (got %s)",
		       peer, wire_status_str(st));
		st = ddb_get_item(d, table, k2, &got, &err);
		TAP_OK(st == WIRE_NOT_FOUND && !got, "%s: and creates nothing (got %s)", peer,
		       wire_status_str(st));
		json_decref(k2);
		json_decref(n);
		json_decref(vv);
	}

	/* A malformed expression is a validation error: a client error. */
	st = ddb_update_item(d, table, key, "SET", NULL, NULL, &err);
	TAP_OK(st == WIRE_CLIENT, "%s: malformed UpdateExpression is a client error (got %s)", peer,
	       wire_status_str(st));
	TAP_STREQ(err.code, "ValidationException", "validation error type");
	TAP_OK(err.message[0] != '\0', "%s: validation error has a message", peer);

	/* Delete returning the old item. */
	cond = (struct ddb_cond){NULL, NULL, NULL, "ALL_OLD"};
	st = ddb_delete_item(d, table, key, &cond, &attrs, &err);
	TAP_OK(st == WIRE_OK && ddb_av_get_u64(attrs, "v", &v) == 0 && v == 2,
	       "%s: DeleteItem returns ALL_OLD", peer);
	json_decref(attrs);
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_NOT_FOUND, "%s: deleted item is gone (got %s)", peer,
	       wire_status_str(st));

	st = ddb_get_item(d, "tfs-no-such-table", key, &got, &err);
	TAP_OK(st == WIRE_NO_TABLE, "%s: GetItem on a missing table is no-table (got %s)", peer,
	       wire_status_str(st));
	json_decref(key);
	json_decref(item);
}

static void test_scan(struct ddb_client *d, const char *peer, const char *table)
{
	struct wire_error err;
	enum wire_status st = WIRE_OK;
	json_t *start = NULL, *items, *last, *it;
	char id[32], got_id[32];
	int seen[7] = {0}, i, n, pages = 0, ok = 1, once = 1;
	size_t j;

	for (i = 0; i < 7; i++) {
		json_t *item;

		snprintf(id, sizeof(id), "scan-%d", i);
		item = json_pack("{s:o, s:o}", "id", ddb_av_s(id), "n", ddb_av_n_i64(i));
		ok &= ddb_put_item(d, table, item, NULL, NULL, &err) == WIRE_OK;
		json_decref(item);
	}
	TAP_OK(ok, "%s: 7 items put for the scan", peer);
	do {
		st = ddb_scan_page(d, table, start, 2, &items, &last, &err);
		json_decref(start);
		start = last;
		if (st != WIRE_OK)
			break;
		pages++;
		TAP_OK(json_array_size(items) <= 2, "%s: page %d holds at most Limit items", peer,
		       pages);
		json_array_foreach(items, j, it)
		{
			if (ddb_av_get_s(it, "id", got_id, sizeof(got_id)) == 0 &&
			    sscanf(got_id, "scan-%d", &n) == 1 && n >= 0 && n < 7)
				seen[n]++;
		}
		json_decref(items);
	} while (start && pages < 100);
	json_decref(start);
	TAP_OK(st == WIRE_OK && pages >= 4, "%s: scan took %d pages of 2 (>= 4)", peer, pages);
	for (i = 0; i < 7; i++)
		once &= seen[i] == 1;
	TAP_OK(once, "%s: scan saw each item exactly once", peer);
}

static void test_generic(struct ddb_client *d, const char *peer, const char *table)
{
	struct wire_error err;
	json_t *body = json_object(), *out = NULL, *v;
	enum wire_status st;
	size_t i;
	int found = 0;

	st = ddb_call(d, "ListTables", body, &out, &err);
	json_array_foreach(json_object_get(out, "TableNames"), i, v) found |=
	    json_is_string(v) && strcmp(json_string_value(v), table) == 0;
	TAP_OK(st == WIRE_OK && found, "%s: ListTables through ddb_call lists the table", peer);
	json_decref(out);
	/* dynalite answers UnknownOperationException; moto_server crashes
	 * into an HTML 500, which must read as a (retried) server error. */
	st = ddb_call(d, "NoSuchOperation", body, &out, &err);
	if (strcmp(peer, "moto") == 0)
		TAP_OK(st == WIRE_SERVER && !out && err.http_status == 500,
		       "%s: an HTML 500 is a server error (got %s)", peer, wire_status_str(st));
	else
		TAP_OK(st == WIRE_CLIENT && !out &&
			   strcmp(err.code, "UnknownOperationException") == 0,
		       "%s: an unknown operation is a client error (got %s, %s)", peer,
		       wire_status_str(st), err.code);
	json_decref(body);

	body = json_pack("{s:s}", "TableName", table);
	st = ddb_call(d, "DeleteTable", body, NULL, &err);
	TAP_OK(st == WIRE_OK, "%s: DeleteTable (got %s)", peer, wire_status_str(st));
	json_decref(body);
}

static void run_peer(const char *peer, const char *endpoint, struct http_client *http)
{
	struct ddb_client *d;
	char table[96];

	d = ddb_client_new(endpoint, "us-east-1", http);
	TAP_OK(d != NULL, "%s: client for %s", peer, endpoint);
	if (!d)
		return;
	snprintf(table, sizeof(table), "tfs-test-ddb-%s-%d-%ld", peer, (int)getpid(),
		 (long)time(NULL));
	test_tables(d, peer, table);
	test_items(d, peer, table);
	test_scan(d, peer, table);
	test_generic(d, peer, table);
	ddb_client_free(d);
}

int main(void)
{
	const char *moto = getenv("TFS_TEST_MOTO"), *dyn = getenv("TFS_TEST_DYNALITE");
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	struct cred_options co = {0};
	struct http_options ho = {0};
	struct cred_provider *creds;
	struct http_client *http;

	if (!moto && !dyn) {
		printf("# skip: TFS_TEST_MOTO and TFS_TEST_DYNALITE unset\n");
		return 77;
	}
	/* Errors are provoked on purpose; keep the log to real trouble. */
	tfs_log_set_level(LOG_CRIT);
	co.access_key = ak ? ak : "testing";
	co.secret_key = sk ? sk : "testing";
	co.disable_imds = 1;
	creds = cred_provider_new(&co);
	ho.retry_budget_ms = 10000;
	ho.max_attempts = 3;
	http = creds ? http_client_new(&ho, creds) : NULL;
	TAP_OK(http != NULL, "http client");
	if (!http)
		goto out;
	if (moto)
		run_peer("moto", moto, http);
	else
		printf("# skip moto: TFS_TEST_MOTO unset\n");
	if (dyn)
		run_peer("dynalite", dyn, http);
	else
		printf("# skip dynalite: TFS_TEST_DYNALITE unset\n");
out:
	http_client_free(http);
	cred_provider_free(creds);
	return TAP_DONE();
}
