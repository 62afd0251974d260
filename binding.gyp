{
  "targets": [
    {
      "target_name": "makuo_udp",
      "conditions": [["OS!='linux'", { "type": "none" }]],
      "sources": ["native/makuo_udp.c", "native/makuo_aead.c", "native/makuo_stage.c", "native/makuo_fs.c", "native/makuo_mem.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
