"""Files at rest: encrypted blobs under generated names, through one chokepoint (store.BlobStore.path())."""
