// The official OpenAI Node SDK against a running `hearth serve`: node openai_client.mjs BASE_URL API_KEY.
// Prints one line per check and exits 1 on the first failure.
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
// A request the server never answers fails the check within a minute (the SDK would wait ten).
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const messages = [{ role: "user", content: "Write a haiku about hearths" }];

async function check(name, body) {
  await body();
  console.log(`ok ${name}`);
}

async function expectError(type, request) {
  try {
    await request();
  } catch (error) {
    assert.ok(error instanceof type, `${error.constructor.name} is not ${type.name}: ${error.message}`);
    return error;
  }
  assert.fail(`no ${type.name}`);
}

await check("models.list", async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].object, "model");
});

await check("completions.create", async () => {
  const completion = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 5, temperature: 0, logprobs: 2 });
  assert.equal(completion.choices[0].finish_reason, "length");
  assert.equal(completion.usage.completion_tokens, 5);
  assert.equal(completion.choices[0].logprobs.tokens.length, 5);
});

let whole;
await check("chat.completions.create", async () => {
  const chat = await client.chat.completions.create({ model: "m", messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2 });
  whole = chat.choices[0].message.content;
  assert.equal(chat.choices[0].message.role, "assistant");
  assert.equal(chat.choices[0].logprobs.content[0].top_logprobs.length, 2);
  assert.ok(chat.usage.prompt_tokens > 0);
});

await check("chat stream reassembles the whole reply, include_usage", async () => {
  const stream = await client.chat.completions.create({
    model: "m", messages, max_completion_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, whole);
  assert.equal(usage.completion_tokens, 12);
});

await check("content parts", async () => {
  const chat = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: [{ type: "text", text: "Write a haiku about hearths" }] }], max_tokens: 12, temperature: 0,
  });
  assert.equal(chat.choices[0].message.content, whole);
});

await check("errors are the SDK's typed errors", async () => {
  const tooLong = await expectError(OpenAI.BadRequestError, () =>
    client.chat.completions.create({ model: "m", messages, max_tokens: 1000000 }));
  assert.equal(tooLong.code, "context_length_exceeded");
  const wrongType = await expectError(OpenAI.BadRequestError, () =>
    client.chat.completions.create({ model: "m", messages, temperature: "hot" }));
  assert.equal(wrongType.param, "temperature");
  await expectError(OpenAI.BadRequestError, () => client.chat.completions.create({ model: "m", messages, n: 2 }));
  const unauthorized = new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, () => unauthorized.models.list());
  await expectError(OpenAI.NotFoundError, () => client.get("/nothing/here"));
});
