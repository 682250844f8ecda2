"""Import and export of foreign workload formats (Applied Compute trie, Mooncake JSONL)."""
