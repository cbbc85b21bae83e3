/* URLs for the HTTP client (http.h): split with libcurl's URL API, so that
 * what is signed is what curl contacts, and URI-encoded for SigV4. */
#include "s3/wire/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

char *http_uri_encode(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out = malloc(n * 3 + 1);
	unsigned char ch;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

int http_url_split(const char *url, char **scheme, char **host, char **path, char **query)
{
	char *sc = NULL, *h = NULL, *port = NULL, *p = NULL, *q = NULL;
	CURLU *u = curl_url();
	CURLUcode rc;
	int ret = -ENOMEM;

	*host = *path = *query = NULL;
	if (scheme)
		*scheme = NULL;
	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &sc, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_HOST, &h, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_PATH, &p, 0);
	if (rc != CURLUE_OK) {
		ret = rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
		goto out;
	}
	rc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
	if (rc != CURLUE_OK && rc != CURLUE_NO_PORT)
		goto out;
	rc = curl_url_get(u, CURLUPART_QUERY, &q, 0);
	if (rc != CURLUE_OK && rc != CURLUE_NO_QUERY)
		goto out;
	if (asprintf(host, "%s%s%s", h, port ? ":" : "", port ? port : "") < 0) {
		*host = NULL;
		goto out;
	}
	*path = strdup(p);
	*query = strdup(q ? q : "");
	if (!*path || !*query)
		goto out;
	if (scheme && !(*scheme = strdup(sc)))
		goto out;
	ret = 0;
out:
	if (ret) {
		free(*host);
		free(*path);
		free(*query);
		*host = *path = *query = NULL;
	}
	curl_free(sc);
	curl_free(h);
	curl_free(port);
	curl_free(p);
	curl_free(q);
	curl_url_cleanup(u);
	return ret;
}
