{
  "targets": [
    {
      "target_name": "quiesce_native",
      "sources": ["native/data-plane.c"],
      "cflags": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
