{
  "targets": [
    {
      "target_name": "quiesce_chunker",
      "sources": ["native/chunker.c"],
      "cflags": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
