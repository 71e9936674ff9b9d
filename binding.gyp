{
  "targets": [
    {
      "target_name": "quiesce_native",
      "sources": ["native/data-plane.c", "native/backup-engine.c", "native/sha256-lanes.c"],
      "cflags": ["-O3"],
      "libraries": ["-ldl"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
