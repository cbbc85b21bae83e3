/* The one layout of the objects a store holds, written once: a database's
 * versions "PREFIX/[SS/]ID/HASH.db" (SS: the low byte of XXH3(id) in hex,
 * when the layout shards), its folder "PREFIX/[SS/]ID/" (version records
 * live there too, verrec.h), and snapshot manifests
 * "PREFIX/_snapshots/NAME.json" with the markers of those being taken
 * "PREFIX/_snapshots/NAME.taking". The engine, the fleet tools, gc, verify
 * and purge all build their keys here. Pure functions: any thread. */
#ifndef TFS_KEYS_H
#define TFS_KEYS_H

#include <stddef.h>

#define KEY_MAX	       1024 /* S3's limit on a key, in bytes */
#define KEY_PREFIX_MAX 512  /* a longer prefix leaves too little of KEY_MAX */
#define SNAP_DIR       "_snapshots"

/* Where versions are: key prefix ("" for none, no trailing '/') and
 * whether keys carry the engine's 2-hex-digit shard before the id
 * (tcache_options.shard_keys). */
struct key_layout {
	const char *prefix;
	int shard_keys;
};

/* The key of id's version with hash ("" gives "FOLDER.db", a name no
 * version has). 0 or -ENAMETOOLONG; never fails for a prefix of at most
 * KEY_PREFIX_MAX bytes, a valid id and a hash of at most CAT_HASH_HEX
 * digits with cap >= KEY_MAX. */
int key_version(const struct key_layout *l, const char *id, const char *hash, char *buf,
		size_t cap);

/* "PREFIX/[SS/]ID/" (with the slash). -ENAMETOOLONG. */
int key_folder(const struct key_layout *l, const char *id, char *buf, size_t cap);

/* "PREFIX/_snapshots/NAME.json"; name "" gives the folder with its slash.
 * -ENAMETOOLONG. */
int key_manifest(const char *prefix, const char *name, char *buf, size_t cap);

/* "PREFIX/_snapshots/NAME.taking": the marker of a snapshot being taken
 * (snapshot_manifest.h). -ENAMETOOLONG. */
int key_marker(const char *prefix, const char *name, char *buf, size_t cap);

#endif
