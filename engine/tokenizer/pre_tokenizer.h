// pre_tokenizer.h: GPT-2's pre-tokenizer, the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// applied leftmost-first over UTF-8 code points, written out by hand because std::regex knows no \p{L}.
// BPE then runs inside each piece only, so these boundaries decide the token sequence as much as the merges.
#pragma once

#include <string_view>
#include <vector>

namespace dv {

// Appends text's pre-tokens to pieces, in order; together they tile text exactly. Bytes that are not valid
// UTF-8 count as one [^\s\p{L}\p{N}] character each, so any byte string splits without error.
void pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace dv
