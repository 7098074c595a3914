// The OpenAI Node SDK as a client of `qa serve` (tests/test_clients.py runs it): the models,
// one whole answer, one streamed with its usage, and a wrong key; printed as one JSON line.
// usage: node client.mjs BASE_URL API_KEY QUESTION
import OpenAI from "openai";

const [baseURL, apiKey, question] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const messages = [{ role: "user", content: question }];

const models = [];
for await (const model of client.models.list()) models.push(model.id);

const whole = await client.chat.completions.create({ model: "extractive", messages });

const stream = await client.chat.completions.create({
  model: "extractive",
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
const streamed = { content: "", usage: null, citations: null, chunks: 0 };
for await (const chunk of stream) {
  streamed.chunks += 1;
  streamed.content += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) streamed.usage = chunk.usage;
  if (chunk.citations) streamed.citations = chunk.citations;
}

let refused = null;
try {
  await new OpenAI({ baseURL, apiKey: "not-a-key", maxRetries: 0 }).models.list();
} catch (error) {
  refused = { status: error.status, name: error.constructor.name, message: error.message };
}

console.log(
  JSON.stringify({
    models,
    whole: {
      content: whole.choices[0].message.content,
      usage: whole.usage,
      citations: whole.citations,
    },
    streamed,
    refused,
  }),
);
