// The official OpenAI Node SDK against `awqx serve`: completions, chat, streaming of both,
// models.list and an error. Env: AWQX_BASE_URL (http://127.0.0.1:PORT/v1), AWQX_API_KEY.
// Prints "openai-node: ok" and exits 0 when every check passes.
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.AWQX_BASE_URL,
  apiKey: process.env.AWQX_API_KEY || "none",
  maxRetries: 0,
  timeout: 60_000,
});

const models = await client.models.list();
const model = models.data[0].id;
assert.ok(model.length > 0, "models.list gives an id");

const c = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
assert.equal(c.object, "text_completion");
assert.equal(typeof c.choices[0].text, "string");
assert.ok(["stop", "length"].includes(c.choices[0].finish_reason));
assert.ok(c.usage.completion_tokens >= 1 && c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens);

const messages = [{ role: "system", content: "You tell stories." }, { role: "user", content: "Tell me a story." }];
const chat = await client.chat.completions.create({
  model,
  messages,
  max_tokens: 8,
  temperature: 0,
});
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.equal(typeof chat.choices[0].message.content, "string");

let streamed = "", finish = null, usage = null;
const stream = await client.chat.completions.create({
  model,
  messages,
  max_tokens: 8,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  assert.equal(chunk.object, "chat.completion.chunk");
  if (chunk.usage) usage = chunk.usage;
  if (!chunk.choices.length) continue;
  streamed += chunk.choices[0].delta.content ?? "";
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
assert.equal(streamed, chat.choices[0].message.content, "streamed chat == non-streamed chat (greedy)");
assert.ok(finish === "stop" || finish === "length");
assert.ok(usage && usage.completion_tokens >= 1);

let text = "";
for await (const chunk of await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true })) {
  text += chunk.choices[0]?.text ?? "";
}
assert.equal(text, c.choices[0].text, "streamed completion == non-streamed completion (greedy)");

try {
  await client.completions.create({ model, prompt: "x", n: 2 });
  assert.fail("n=2 accepted");
} catch (e) {
  assert.ok(e instanceof OpenAI.APIError, String(e));
  assert.equal(e.status, 400);
  assert.equal(e.param, "n");
}
console.log("openai-node: ok");
