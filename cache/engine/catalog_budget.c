/* The calling thread's time bound on catalog calls (catalog.h), one value
 * for both back ends: the DynamoDB client takes it per request from the
 * same thread, the SQLite catalog bounds its lock and busy wait by it. */
#include "cache/catalog/catalog.h"

#include "s3/wire/ddb.h"

static __thread long thread_budget_ms;

long catalog_set_thread_budget(long ms)
{
	long old = thread_budget_ms;

	thread_budget_ms = ms > 0 ? ms : 0;
	ddb_set_thread_budget(thread_budget_ms);
	return old;
}

long catalog_thread_budget(void)
{
	return thread_budget_ms;
}
