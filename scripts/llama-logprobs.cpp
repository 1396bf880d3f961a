// Prints llama.cpp's next-token log-probabilities after a prompt given as
// token ids, for rca's parity test (tests/model.rs, parity_with_llama_cpp).
//
// Usage: llama-logprobs MODEL.gguf IDS_FILE [TOKEN...]
//   IDS_FILE holds the prompt's token ids, separated by white space (rca's
//   tokenization: the tokenizer has its own reference test). Prints one JSON
//   object: the 10 most likely next tokens with their log-probabilities,
//   and the log-probabilities of the TOKEN ids asked for.
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL.gguf IDS_FILE [TOKEN...]\n", argv[0]);
        return 2;
    }
    std::vector<llama_token> prompt;
    {
        std::ifstream in(argv[2]);
        long id;
        while (in >> id) prompt.push_back((llama_token)id);
    }
    if (prompt.empty()) {
        std::fprintf(stderr, "no token ids in %s\n", argv[2]);
        return 2;
    }
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();
    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    llama_model *model = llama_model_load_from_file(argv[1], mparams);
    if (!model) {
        std::fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = prompt.size() + 8;
    cparams.n_batch = prompt.size();
    cparams.n_ubatch = prompt.size();
    cparams.n_threads = 2;
    cparams.n_threads_batch = 2;
    // rca keeps keys and values in f32 and runs plain attention: so does
    // the reference, so that what differs is the weights' arithmetic only.
    cparams.type_k = GGML_TYPE_F32;
    cparams.type_v = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context *ctx = llama_init_from_model(model, cparams);
    if (!ctx || llama_decode(ctx, llama_batch_get_one(prompt.data(), (int)prompt.size())) != 0) {
        std::fprintf(stderr, "decode failed\n");
        return 1;
    }
    const llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    const float *logits = llama_get_logits_ith(ctx, -1);
    double max = logits[0];
    for (int i = 1; i < n_vocab; i++) max = std::max(max, (double)logits[i]);
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += std::exp((double)logits[i] - max);
    const double log_z = max + std::log(sum);
    std::vector<int> order(n_vocab);
    for (int i = 0; i < n_vocab; i++) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + 10, order.end(),
                      [&](int a, int b) { return logits[a] > logits[b]; });
    std::printf("{\"prompt_tokens\": %zu, \"top\": [", prompt.size());
    for (int k = 0; k < 10; k++)
        std::printf("%s[%d, %.6f]", k ? ", " : "", order[k], logits[order[k]] - log_z);
    std::printf("], \"asked\": [");
    for (int k = 3; k < argc; k++) {
        int id = std::atoi(argv[k]);
        std::printf("%s[%d, %.6f]", k > 3 ? ", " : "", id, logits[id] - log_z);
    }
    std::printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
