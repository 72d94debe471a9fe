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

const weather = {
  type: "object",
  properties: { city: { type: "string", maxLength: 24 }, days: { type: "integer", minimum: 1, maximum: 7 } },
  required: ["city", "days"],
  additionalProperties: false,
};
const tools = [
  { type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: weather } },
  { type: "function", function: { name: "get_time", description: "The time in a city", parameters: { type: "object", properties: { city: { type: "string", maxLength: 24 } }, required: ["city"] } } },
];

function checkWeatherArguments(text) {
  const args = JSON.parse(text);
  assert.equal(typeof args.city, "string");
  assert.ok(Number.isInteger(args.days) && args.days >= 1 && args.days <= 7, text);
}

await check("beta.chat.completions.parse with a strict JSON schema", async () => {
  const chat = await client.beta.chat.completions.parse({
    model: "m", messages, max_tokens: 150, seed: 1,
    response_format: { type: "json_schema", json_schema: { name: "weather", strict: true, schema: weather } },
  });
  const message = chat.choices[0].message;
  assert.equal(chat.choices[0].finish_reason, "stop");
  checkWeatherArguments(message.content);
  assert.equal(message.parsed.city, JSON.parse(message.content).city);
});

await check("tool_choice required: a tool call, non-streamed", async () => {
  const chat = await client.chat.completions.create({
    model: "m", messages, max_tokens: 150, seed: 2, tools, tool_choice: "required", parallel_tool_calls: false,
  });
  const choice = chat.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.match(call.id, /^[a-zA-Z0-9]{9}$/);
  assert.equal(call.type, "function");
  assert.ok(["get_weather", "get_time"].includes(call.function.name));
  if (call.function.name === "get_weather") checkWeatherArguments(call.function.arguments);
});

await check("a named tool_choice, streamed through the SDK's stream helper", async () => {
  const stream = client.beta.chat.completions.stream({
    model: "m", messages, max_tokens: 150, seed: 3, tools, parallel_tool_calls: false,
    tool_choice: { type: "function", function: { name: "get_weather" } },
  });
  let deltas = 0;
  stream.on("chunk", (chunk) => { if (chunk.choices[0]?.delta?.tool_calls) deltas += 1; });
  const chat = await stream.finalChatCompletion();
  assert.ok(deltas >= 1);
  const calls = chat.choices[0].message.tool_calls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].function.name, "get_weather");
  checkWeatherArguments(calls[0].function.arguments);
  assert.equal(chat.choices[0].finish_reason, "tool_calls");
});

await check("tool_choice none: the tools are shown, the reply is content", async () => {
  const chat = await client.chat.completions.create({ model: "m", messages, max_tokens: 8, seed: 4, tools, tool_choice: "none" });
  assert.equal(chat.choices[0].message.tool_calls, undefined);
  assert.equal(typeof chat.choices[0].message.content, "string");
  const unknown = await expectError(OpenAI.BadRequestError, () => client.chat.completions.create({
    model: "m", messages, tools, tool_choice: { type: "function", function: { name: "nope" } } }));
  assert.equal(unknown.param, "tool_choice");
});

await check("responses.create: text, with instructions", async () => {
  const response = await client.responses.create({ model: "m", instructions: "Answer briefly.", input: "Write a haiku about hearths", max_output_tokens: 8, seed: 5 });
  assert.equal(response.object, "response");
  assert.equal(response.status, "incomplete");
  assert.equal(response.incomplete_details.reason, "max_output_tokens");
  assert.equal(response.output[0].type, "message");
  assert.ok(response.output_text.length > 0);
  assert.equal(response.usage.output_tokens, 8);
});

await check("responses.stream: events add up to the final response", async () => {
  const stream = client.responses.stream({ model: "m", input: [{ role: "user", content: [{ type: "input_text", text: "Hello" }] }], max_output_tokens: 10, seed: 6 });
  let text = "";
  stream.on("response.output_text.delta", (event) => { text += event.delta; });
  const response = await stream.finalResponse();  // (this SDK version adds output_text only to parsed responses)
  assert.equal(text, response.output[0].content[0].text);
  assert.ok(text.length > 0);
});

await check("responses: a required function call, then its output sent back", async () => {
  const flatTools = tools.map((tool) => ({ type: "function", ...tool.function }));
  const response = await client.responses.create({
    model: "m", input: "Weather in Oslo?", tools: flatTools, tool_choice: { type: "function", name: "get_weather" },
    parallel_tool_calls: false, max_output_tokens: 150, seed: 7,
  });
  const calls = response.output.filter((item) => item.type === "function_call");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, "get_weather");
  checkWeatherArguments(calls[0].arguments);
  const followUp = await client.responses.create({
    model: "m", tools: flatTools, max_output_tokens: 6, seed: 8,
    input: [{ role: "user", content: "Weather in Oslo?" }, calls[0], { type: "function_call_output", call_id: calls[0].call_id, output: "{\"temp\": 3}" }],
  });
  assert.equal(followUp.output[0].type, "message");
  const stale = await expectError(OpenAI.BadRequestError, () => client.responses.create({ model: "m", input: "x", previous_response_id: response.id }));
  assert.equal(stale.param, "previous_response_id");
});
