// encode_file.h: tokenizing a text file chunk by chunk, never holding the whole corpus, with exactly the ids
// that encoding the whole file at once would give (the perplexity protocol tokenizes a file once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace dv {

// Hands the ids of the file at path (bos first when add_bos) to sink in order, a batch per chunk of about
// chunk_bytes; sink returns false to stop early. Returns how many ids were handed over. File errors
// (missing, empty, not UTF-8) throw dv::Error naming the file.
size_t encode_text_file(BpeTokenizer& tokenizer, const std::string& path, bool add_bos,
                        const std::function<bool(const std::vector<int32_t>&)>& sink,
                        size_t chunk_bytes = size_t{1} << 20);

// The first max_tokens ids of the file (all when max_tokens is 0), read chunk by chunk.
std::vector<int32_t> encode_text_file(BpeTokenizer& tokenizer, const std::string& path, bool add_bos,
                                      size_t max_tokens = 0, size_t chunk_bytes = size_t{1} << 20);

}  // namespace dv
