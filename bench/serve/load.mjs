// Load generator for `hearth serve` over loopback: node load.mjs BASE_URL [MAX_TOKENS] [REQUESTS_PER_STREAM].
// For 1, 4, 8 and 16 concurrent streaming chat requests prints aggregate generation tok/s, time to first token
// P50/P95 and inter-token latency P95. Greedy, ignore nothing: each stream ends at max_tokens or end of turn.
const [baseURL, maxTokensText = "64", perStreamText = "2"] = process.argv.slice(2);
const maxTokens = Number(maxTokensText);
const perStream = Number(perStreamText);

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// One streamed request: its first-token time, gaps between chunks, and generated tokens (from include_usage).
async function oneRequest(prompt) {
  const start = performance.now();
  const response = await fetch(`${baseURL}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const decoder = new TextDecoder();
  let buffered = "", first = null, last = null, tokens = 0;
  const gaps = [];
  for await (const bytes of response.body) {
    buffered += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = buffered.slice(0, end).replace(/^data: /, "");
      buffered = buffered.slice(end + 2);
      if (event === "[DONE]") continue;
      const chunk = JSON.parse(event);
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      if (chunk.choices.length === 0) continue;
      const now = performance.now();
      if (first === null) first = now - start;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ttft: first ?? NaN, gaps, tokens };
}

console.log("streams  gen tok/s  TTFT P50 ms  TTFT P95 ms  ITL P95 ms");
for (const streams of [1, 4, 8, 16]) {
  const start = performance.now();
  const results = (await Promise.all(Array.from({ length: streams }, async (_, stream) => {
    const mine = [];
    for (let i = 0; i < perStream; ++i) mine.push(await oneRequest(`Stream ${stream}, request ${i}: tell a story`));
    return mine;
  }))).flat();
  const seconds = (performance.now() - start) / 1000;
  const tokens = results.reduce((sum, r) => sum + r.tokens, 0);
  const ttfts = results.map((r) => r.ttft);
  const gaps = results.flatMap((r) => r.gaps);
  console.log(`${String(streams).padStart(7)}  ${(tokens / seconds).toFixed(1).padStart(9)}  ` +
    `${percentile(ttfts, 50).toFixed(1).padStart(11)}  ${percentile(ttfts, 95).toFixed(1).padStart(11)}  ` +
    `${percentile(gaps, 95).toFixed(1).padStart(10)}`);
}
