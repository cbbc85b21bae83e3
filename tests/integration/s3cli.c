/* s3cli: a small command line over the S3 client (s3/wire/s3.h) for the Python
 * integration tests (test_s3_*.py): one operation per run, results as
 * "key=value" lines on stdout, exit 0 on WIRE_OK and 10 + status otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3/base/log.h"
#include "s3/wire/creds.h"
#include "s3/wire/http.h"
#include "s3/wire/s3.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: s3cli [--endpoint URL] [--bucket B] [--region R] [--access-key K]\n"
		"             [--secret-key S] [--timeout-ms N] [--connect-timeout-ms N]\n"
		"             [--attempts N] [--budget-ms N] [--backoff-ms N] [--max-body N]\n"
		"             [--part-size N] [--threshold N] [--parallel N] [--debug]\n"
		"  mkbucket | headbucket | head KEY | delete KEY\n"
		"  put KEY FILE [--hash H] [--if-none-match]\n"
		"  get KEY FILE [--range START LEN] [--if-match ETAG]\n"
		"  list PREFIX MAXKEYS      (every page; prints pages= and one key= per key)\n"
		"Defaults from AWS_ENDPOINT_URL, S3CLI_BUCKET, AWS_REGION, AWS_ACCESS_KEY_ID,\n"
		"AWS_SECRET_ACCESS_KEY.\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s)
		usage();
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_info(const struct s3_object_info *oi)
{
	printf("size=%" PRIu64 "\netag=%s\nmtime_ms=%" PRId64 "\nmeta_xxh3=%s\n", oi->size,
	       oi->etag, oi->mtime_ms, oi->meta_hash);
}

int main(int argc, char **argv)
{
	struct wire_error err = {0}; /* why the command failed, printed as error= */
	static const struct option lopts[] = {
	    {"endpoint", required_argument, NULL, 'e'},
	    {"bucket", required_argument, NULL, 'b'},
	    {"region", required_argument, NULL, 'r'},
	    {"access-key", required_argument, NULL, 'a'},
	    {"secret-key", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"connect-timeout-ms", required_argument, NULL, 'c'},
	    {"attempts", required_argument, NULL, 'n'},
	    {"budget-ms", required_argument, NULL, 'B'},
	    {"backoff-ms", required_argument, NULL, 'k'},
	    {"max-body", required_argument, NULL, 'm'},
	    {"part-size", required_argument, NULL, 'p'},
	    {"threshold", required_argument, NULL, 'T'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"hash", required_argument, NULL, 'h'},
	    {"if-none-match", no_argument, NULL, 'N'},
	    {"if-match", required_argument, NULL, 'M'},
	    {"range", required_argument, NULL, 'R'},
	    {"debug", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	struct s3_config cfg = {.path_style = -1};
	struct http_options hopt = {0};
	struct cred_options copt = {0};
	struct s3_put_options popt = {0};
	struct s3_object_info oi;
	struct s3_list_page page;
	struct http_stats hs;
	struct cred_provider *cp = NULL;
	struct http_client *http = NULL;
	struct s3_client *s3 = NULL;
	enum wire_status st = WIRE_INVALID;
	const char *cmd, *if_match = NULL;
	uint64_t range_start = 0, range_len = 0;
	char *token = NULL;
	int opt, fd = -1, pages = 0;
	size_t i, total = 0;
	int64_t t0;
	struct stat sb;

	cfg.endpoint = getenv("AWS_ENDPOINT_URL");
	cfg.bucket = getenv("S3CLI_BUCKET");
	cfg.region = getenv("AWS_REGION");
	copt.access_key = getenv("AWS_ACCESS_KEY_ID");
	copt.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	copt.disable_imds = 1;
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'e': cfg.endpoint = optarg; break;
		case 'b': cfg.bucket = optarg; break;
		case 'r': cfg.region = optarg; break;
		case 'a': copt.access_key = optarg; break;
		case 's': copt.secret_key = optarg; break;
		case 't': hopt.request_timeout_ms = (long)num(optarg); break;
		case 'c': hopt.connect_timeout_ms = (long)num(optarg); break;
		case 'n': hopt.max_attempts = (int)num(optarg); break;
		case 'B': hopt.retry_budget_ms = (long)num(optarg); break;
		case 'k': hopt.backoff_base_ms = (long)num(optarg); break;
		case 'm': hopt.max_body = (size_t)num(optarg); break;
		case 'p': cfg.part_size = num(optarg); break;
		case 'T': cfg.multipart_threshold = num(optarg); break;
		case 'P': cfg.part_parallel = (int)num(optarg); break;
		case 'h': popt.meta_xxh3 = optarg; break;
		case 'N': popt.if_none_match = 1; break;
		case 'M': if_match = optarg; break;
		case 'R':
			range_start = num(optarg);
			if (optind >= argc)
				usage();
			range_len = num(argv[optind++]);
			break;
		case 'd': tfs_log_set_level(LOG_DEBUG); break;
		default: usage();
		}
	}
	if (optind >= argc || !cfg.endpoint || !cfg.bucket)
		usage();
	cmd = argv[optind++];

	cp = cred_provider_new(&copt);
	http = cp ? http_client_new(&hopt, cp) : NULL;
	s3 = http ? s3_client_new(&cfg, http) : NULL;
	if (!s3) {
		fprintf(stderr, "s3cli: cannot set up the client\n");
		st = WIRE_NOMEM;
		goto out;
	}
	t0 = mono_ms();
	if (!strcmp(cmd, "mkbucket")) {
		st = s3_create_bucket(s3, &err);
	} else if (!strcmp(cmd, "headbucket")) {
		st = s3_head_bucket(s3, &err);
	} else if (!strcmp(cmd, "head") && optind + 1 == argc) {
		st = s3_head(s3, argv[optind], &oi, &err);
		if (st == WIRE_OK)
			print_info(&oi);
	} else if (!strcmp(cmd, "delete") && optind + 1 == argc) {
		st = s3_delete(s3, argv[optind], &err);
	} else if (!strcmp(cmd, "put") && optind + 2 == argc) {
		fd = open(argv[optind + 1], O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			fprintf(stderr, "s3cli: cannot open '%s': %s\n", argv[optind + 1],
				strerror(errno));
			st = WIRE_LOCAL_IO;
			goto out;
		}
		st = s3_put_file(s3, argv[optind], fd, (uint64_t)sb.st_size, &popt, &oi, &err);
		if (st == WIRE_OK)
			print_info(&oi);
	} else if (!strcmp(cmd, "get") && optind + 2 == argc) {
		fd = open(argv[optind + 1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "s3cli: cannot open '%s': %s\n", argv[optind + 1],
				strerror(errno));
			st = WIRE_LOCAL_IO;
			goto out;
		}
		st = s3_get_to_file(s3, argv[optind], fd, range_start, range_len, if_match, &oi,
				    &err);
		if (st == WIRE_OK)
			print_info(&oi);
	} else if (!strcmp(cmd, "list") && optind + 2 == argc) {
		/* Bounded: at most 10000 pages. */
		do {
			st = s3_list_page(s3, argv[optind], token, (int)num(argv[optind + 1]),
					  &page, &err);
			free(token);
			token = NULL;
			if (st != WIRE_OK) {
				s3_list_page_free(&page);
				break;
			}
			pages++;
			for (i = 0; i < page.n; i++)
				printf("key=%s size=%" PRIu64 "\n", page.entries[i].key,
				       page.entries[i].size);
			total += page.n;
			token = page.next;
			page.next = NULL;
			s3_list_page_free(&page);
		} while (token && pages < 10000);
		printf("pages=%d\nkeys=%zu\n", pages, total);
	} else {
		usage();
	}
	printf("elapsed_ms=%lld\n", (long long)(mono_ms() - t0));
	http_client_stats(http, &hs);
	printf("stats_get=%" PRIu64 "\nstats_put=%" PRIu64 "\nstats_head=%" PRIu64
	       "\nstats_list=%" PRIu64 "\nstats_delete=%" PRIu64 "\nstats_other=%" PRIu64
	       "\nstats_retries=%" PRIu64 "\n",
	       hs.s3_get, hs.s3_put, hs.s3_head, hs.s3_list, hs.s3_delete, hs.s3_other, hs.retries);
out:
	printf("status=%s\nerror=%s\n", wire_status_str(st), err.message);
	free(token);
	if (fd >= 0)
		close(fd);
	s3_client_free(s3);
	http_client_free(http);
	cred_provider_free(cp);
	return st == WIRE_OK ? 0 : 10 + (int)st;
}
