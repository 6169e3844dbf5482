// Skyport console: plain JavaScript, no framework. Pages are chosen by the URL's hash (#/s3/bucket),
// data comes from the console's JSON API under /_skyport/console/api/, and every piece of text from a
// resource goes into the page as text (never as HTML).
"use strict";

const API = "/_skyport/console/api/";
const main = document.getElementById("main");
const state = {
  info: null,
  account: localStorage.getItem("skyport.account") || "000000000000",
  region: localStorage.getItem("skyport.region") || "us-east-1",
  stream: null, // the request log's EventSource while its page is open
};

// ---- DOM helpers ---------------------------------------------------------------------------------

// h("tag.class#id", {attrs}, children...): builds an element; strings become text nodes.
function h(spec, attrs, ...children) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/);
  const el = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A list from a value that may be missing, one item, or an array (XML converted to JSON).
const list = (v) => (v === undefined || v === null || v === "" ? [] : Array.isArray(v) ? v : [v]);
const enc = encodeURIComponent;
const bytes = (n) => {
  n = Number(n || 0);
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
};
const when = (t) => {
  if (t === undefined || t === null || t === "") return "";
  const d = typeof t === "number" ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
};
const pretty = (text) => {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
};
const lastPart = (arn) => String(arn || "").split(/[:/]/).pop();

function table(headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p.muted", empty);
  return h("table", h("thead", h("tr", headers.map((x) => h(x.startsWith("#") ? "th.num" : "th", x.replace(/^#/, ""))))),
    h("tbody", rows));
}

function kv(pairs) {
  return h("dl.kv", pairs.filter(([, v]) => v !== undefined && v !== null && v !== "" && v !== false)
    .map(([k, v]) => [h("dt", k), h("dd", v instanceof Node ? v : String(v))]));
}

function crumbs(...parts) {
  return h("div.crumbs", parts.map((p, i) => [i ? " / " : "", Array.isArray(p) ? h("a", { href: p[1] }, p[0]) : p]));
}

function errorBox(e) {
  return h("div.error", e.code ? `${e.code}: ${e.message}` : String(e.message || e));
}

// A button that needs SKYPORT_CONSOLE_WRITE=1: disabled (with the reason) in a read-only console.
function writeButton(label, onclick, cls = "") {
  const write = state.info && state.info.write;
  return h(`button${cls}`, {
    onclick, disabled: !write,
    title: write ? null : "read-only console: start Skyport with SKYPORT_CONSOLE_WRITE=1",
  }, label);
}

// ---- API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = "GET", body, params = {}, raw = false } = {}) {
  const url = new URL(API + path, location.origin);
  url.searchParams.set("account", state.account);
  url.searchParams.set("region", state.region);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url, { method, body, headers: { "X-Skyport-Console": "1" } });
  if (!res.ok) {
    const e = await res.json().catch(() => ({}));
    throw new ApiError(res.status, e.error || String(res.status), e.message || res.statusText);
  }
  return raw ? res : res.json();
}

const call = (service, operation, input = {}) =>
  api(`call/${service}/${operation}`, { method: "POST", body: JSON.stringify(input) });

// ---- pages ---------------------------------------------------------------------------------------

const pages = {
  "": overview,
  s3: (p, q) => (p.length ? s3Objects(p[0], q.get("prefix") || "") : s3Buckets()),
  sqs: (p) => (p.length ? sqsQueue(p[0]) : sqsQueues()),
  lambda: (p) => (p.length ? lambdaFunction(p[0]) : lambdaFunctions()),
  dynamodb: (p) => (p.length ? dynamoTable(p[0]) : dynamoTables()),
  sns: (p) => (p.length ? snsTopic(p[0]) : snsTopics()),
  events: (p) => (p.length ? eventsRule(p[0], p[1]) : eventsRules()),
  ecr: (p) => (p.length ? ecrRepository(p[0]) : ecrRepositories()),
  logs: (p) => (p.length > 1 ? logEvents(p[0], p[1]) : p.length ? logStreams(p[0]) : logGroups()),
  iam: (p) => iamPage(p[0] || "roles"),
  requests: requestLog,
};

async function overview() {
  const counts = [
    ["s3", "buckets", async () => list((await api("s3/buckets")).Buckets?.Bucket).length],
    ["sqs", "queues", async () => list((await call("sqs", "ListQueues")).QueueUrls).length],
    ["lambda", "functions", async () => list((await api("lambda/functions")).Functions).length],
    ["dynamodb", "tables", async () => list((await call("dynamodb", "ListTables")).TableNames).length],
    ["sns", "topics", async () => list((await call("sns", "ListTopics")).Topics?.member).length],
    ["events", "rules on the default bus", async () => list((await call("events", "ListRules")).Rules).length],
    ["ecr", "repositories", async () => list((await call("ecr", "DescribeRepositories")).repositories).length],
    ["logs", "log groups", async () => list((await call("logs", "DescribeLogGroups")).logGroups).length],
    ["iam", "roles", async () => list((await call("iam", "ListRoles")).Roles?.member).length],
  ];
  const names = { s3: "S3", sqs: "SQS", lambda: "Lambda", dynamodb: "DynamoDB", sns: "SNS", events: "EventBridge",
    ecr: "ECR", logs: "CloudWatch Logs", iam: "IAM" };
  const cards = counts.map(([svc, what, count]) => {
    const n = h("div.count", "…");
    count().then((c) => (n.textContent = c), () => (n.textContent = "–"));
    return h("a.card", { href: `#/${svc}` }, h("div", h("b", names[svc])), n, h("div.what", what));
  });
  const services = Object.entries(state.info?.services || {})
    .map(([s, st]) => h("tr", h("td", s), h("td", st)));
  return [
    h("h1", "Overview"),
    h("p.muted", `Account ${state.account}, region ${state.region}. Everything here is served by this Skyport, in process.`),
    h("div.cards", cards),
    h("h2", "Services"),
    table(["Service", "State"], services),
    h("h2", "Recent requests"),
    await recentRequests(),
  ];
}

async function recentRequests() {
  const { requests } = await api("requests");
  const rows = requests.filter((r) => r.origin === "client").slice(-10).reverse().map(requestRow);
  return [table(["Time", "Service", "Operation", "#Status", "#ms", "Account", "Region", "Client"], rows,
    "No requests yet."), h("p", h("a", { href: "#/requests" }, "Open the live request log →"))];
}

// -- S3 --

async function s3Buckets() {
  const out = await api("s3/buckets");
  const rows = list(out.Buckets?.Bucket).map((b) => h("tr",
    h("td", h("a.bucket-link", { href: `#/s3/${enc(b.Name)}`, dataset: { bucket: b.Name } }, b.Name)),
    h("td", when(b.CreationDate))));
  return [h("h1", "S3"), crumbs("Buckets"), table(["Bucket", "Created"], rows, "No buckets in this account.")];
}

async function s3Objects(bucket, prefix) {
  const out = await api("s3/objects", { params: { bucket, prefix } });
  const here = (p) => `#/s3/${enc(bucket)}${p ? `?prefix=${enc(p)}` : ""}`;
  const folders = list(out.CommonPrefixes).map((c) => h("tr.folder",
    h("td", h("a.folder", { href: here(c.Prefix) }, c.Prefix.slice(prefix.length))), h("td"), h("td"), h("td"), h("td")));
  const objects = list(out.Contents).map((o) => {
    const download = new URL(API + "s3/object", location.origin);
    for (const [k, v] of Object.entries({ bucket, key: o.Key, account: state.account, region: state.region })) {
      download.searchParams.set(k, v);
    }
    return h("tr.object", { dataset: { key: o.Key } },
      h("td", h("code", o.Key.slice(prefix.length))),
      h("td.num", bytes(o.Size)),
      h("td", when(o.LastModified)),
      h("td", h("code.muted", String(o.ETag || "").replaceAll('"', ""))),
      h("td", h("div.row",
        h("a.button", { href: download.toString(), download: "" }, "Download"),
        writeButton("Delete", async () => {
          if (!confirm(`Delete s3://${bucket}/${o.Key}?`)) return;
          await guarded(() => api("s3/object", { method: "DELETE", params: { bucket, key: o.Key } }));
          render();
        }, ".danger"))));
  });
  const parts = prefix.split("/").filter(Boolean);
  const path = parts.map((p, i) => [p, here(parts.slice(0, i + 1).join("/") + "/")]);
  const status = h("span#upload-status.muted");
  const file = h("input#upload-file", { type: "file" });
  const upload = writeButton("Upload", async () => {
    const chosen = file.files[0];
    if (!chosen) { status.textContent = "Choose a file first."; return; }
    const key = prefix + chosen.name;
    status.textContent = `Uploading ${key}…`;
    try {
      await api("s3/object", { method: "PUT", body: chosen, params: { bucket, key } });
      status.textContent = `Uploaded ${key}.`;
      await render();
      const again = document.getElementById("upload-status");
      if (again) again.textContent = `Uploaded ${key}.`;
    } catch (e) {
      status.textContent = "";
      status.after(errorBox(e));
    }
  }, ".primary#upload-button");
  return [
    h("h1", bucket),
    crumbs(["Buckets", "#/s3"], [bucket, here("")], ...path),
    h("div.panel", h("div.row", h("b", "Upload to "), h("code", `s3://${bucket}/${prefix}`), file, upload, status)),
    table(["Key", "#Size", "Last modified", "ETag", ""], [...folders, ...objects], "This prefix is empty."),
    out.IsTruncated === "true" ? h("p.muted", "Showing the first 200 keys.") : null,
  ];
}

async function guarded(action) {
  try { return await action(); } catch (e) { alert(e.code ? `${e.code}: ${e.message}` : e.message); throw e; }
}

// -- SQS --

async function queueSummary(url) {
  const attrs = (await call("sqs", "GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] })).Attributes || {};
  return attrs;
}

async function sqsQueues() {
  const urls = list((await call("sqs", "ListQueues", { MaxResults: 1000 })).QueueUrls);
  const rows = await Promise.all(urls.map(async (url) => {
    const a = await queueSummary(url).catch(() => ({}));
    const dlq = a.RedrivePolicy ? lastPart(JSON.parse(a.RedrivePolicy).deadLetterTargetArn) : "";
    const name = lastPart(url);
    return h("tr", h("td", h("a.queue-link", { href: `#/sqs/${enc(url)}`, dataset: { queue: name } }, name)),
      h("td.num", a.ApproximateNumberOfMessages || "0"), h("td.num", a.ApproximateNumberOfMessagesNotVisible || "0"),
      h("td.num", a.ApproximateNumberOfMessagesDelayed || "0"), h("td", dlq));
  }));
  return [h("h1", "SQS"), crumbs("Queues"),
    table(["Queue", "#Visible", "#In flight", "#Delayed", "Dead-letter queue"], rows, "No queues in this account and region.")];
}

async function sqsQueue(url) {
  const name = lastPart(url);
  const a = await queueSummary(url);
  const redrive = a.RedrivePolicy ? JSON.parse(a.RedrivePolicy) : null;
  const sources = list((await call("sqs", "ListDeadLetterSourceQueues", { QueueUrl: url })).queueUrls);
  const peek = await api("sqs/peek", { params: { url } });
  const messages = list(peek.Messages).map((m) => h("tr.message",
    h("td", h("code", m.MessageId)),
    h("td", when(Number(m.Attributes?.SentTimestamp))),
    h("td", m.Attributes?.IsVisible === "false" ? (m.Attributes?.ApproximateReceiveCount !== "0" ? "in flight" : "delayed") : "visible"),
    h("td.num", m.Attributes?.ApproximateReceiveCount || "0"),
    h("td", h("pre", pretty(m.Body)))));
  const body = h("textarea#send-body", { rows: 4, placeholder: "Message body" });
  const group = a.FifoQueue === "true" ? h("input#send-group", { type: "text", placeholder: "MessageGroupId" }) : null;
  const send = writeButton("Send", async () => {
    const input = { QueueUrl: url, MessageBody: body.value };
    if (group) { input.MessageGroupId = group.value || "console"; input.MessageDeduplicationId = String(Date.now()); }
    await guarded(() => call("sqs", "SendMessage", input));
    render();
  }, ".primary#send-button");
  const purge = writeButton("Purge", async () => {
    if (!confirm(`Delete every message in ${name}?`)) return;
    await guarded(() => call("sqs", "PurgeQueue", { QueueUrl: url }));
    render();
  }, ".danger");
  const redriveButton = sources.length ? writeButton("Redrive to source queues", async () => {
    await guarded(() => call("sqs", "StartMessageMoveTask", { SourceArn: a.QueueArn }));
    render();
  }) : null;
  return [
    h("h1", name),
    crumbs(["Queues", "#/sqs"], name),
    h("div.panel", kv([
      ["URL", url], ["ARN", a.QueueArn], ["Visible", a.ApproximateNumberOfMessages],
      ["In flight", a.ApproximateNumberOfMessagesNotVisible], ["Delayed", a.ApproximateNumberOfMessagesDelayed],
      ["Visibility timeout", a.VisibilityTimeout && `${a.VisibilityTimeout} s`],
      ["Retention", a.MessageRetentionPeriod && `${a.MessageRetentionPeriod} s`],
      ["Dead-letter queue", redrive && h("span", h("a", { href: `#/sqs/${enc(queueUrlFor(url, redrive.deadLetterTargetArn))}` },
        lastPart(redrive.deadLetterTargetArn)), ` after ${redrive.maxReceiveCount} receives`)],
      ["Dead-letter queue of", sources.length > 0 && h("span", sources.map((s, i) => [i ? ", " : "", h("a", { href: `#/sqs/${enc(s)}` }, lastPart(s))]))],
    ])),
    h("div.row", purge, redriveButton),
    h("h2", "Send a message"),
    h("div.panel", body, group, h("div.row", { style: "margin-top:8px" }, send)),
    h("h2", `Messages (${list(peek.Messages).length}${list(peek.Messages).length === 100 ? "+" : ""}, peeked: nothing is received)`),
    table(["Message id", "Sent", "State", "#Receives", "Body"], messages, "The queue has no messages."),
  ];
}

// The URL of the queue `arn` names, built like the URL of a queue we know (same host, account path).
function queueUrlFor(knownUrl, arn) {
  const [, , , , account, name] = String(arn).split(":");
  return knownUrl.replace(/\/\d{12}\/[^/]+$/, `/${account}/${name}`);
}

// -- Lambda --

async function lambdaFunctions() {
  const out = await api("lambda/functions");
  const rows = list(out.Functions).map((f) => h("tr",
    h("td", h("a", { href: `#/lambda/${enc(f.FunctionName)}` }, f.FunctionName)),
    h("td", f.Runtime || f.PackageType), h("td", f.Handler || ""), h("td.num", bytes(f.CodeSize)),
    h("td", when(f.LastModified))));
  return [h("h1", "Lambda"), crumbs("Functions"),
    table(["Function", "Runtime", "Handler", "#Code size", "Last modified"], rows, "No functions in this account and region.")];
}

async function lambdaFunction(name) {
  const f = await api("lambda/function", { params: { name } });
  const c = f.Configuration || {};
  const payload = h("textarea#invoke-payload", { rows: 5 }, "{}");
  const result = h("div#invoke-result");
  const invoke = writeButton("Invoke", async () => {
    result.replaceChildren(h("p.muted", "Invoking…"));
    try {
      const r = await api("lambda/invoke", { method: "POST", body: payload.value, params: { name } });
      result.replaceChildren(
        r.functionError ? h("div.error", `Function error: ${r.functionError}`) : h("div.note", `Status ${r.status}`),
        h("h2", "Response"), h("pre", pretty(r.payload)),
        r.log ? [h("h2", "Log tail"), h("pre", r.log)] : null);
      logs.replaceChildren(await functionLogs(name));
    } catch (e) { result.replaceChildren(errorBox(e)); }
  }, ".primary");
  const logs = h("div", await functionLogs(name));
  const env = Object.entries(c.Environment?.Variables || {}).map(([k, v]) => h("tr", h("td", h("code", k)), h("td", h("code", v))));
  return [
    h("h1", name), crumbs(["Functions", "#/lambda"], name),
    h("div.panel", kv([["ARN", c.FunctionArn], ["Runtime", c.Runtime || c.PackageType], ["Handler", c.Handler],
      ["Role", c.Role], ["Memory", c.MemorySize && `${c.MemorySize} MB`], ["Timeout", c.Timeout && `${c.Timeout} s`],
      ["State", c.State], ["Code size", bytes(c.CodeSize)], ["Last modified", when(c.LastModified)]])),
    env.length ? [h("h2", "Environment"), table(["Name", "Value"], env)] : null,
    h("h2", "Invoke"), h("div.panel", payload, h("div.row", { style: "margin-top:8px" }, invoke)), result,
    h("h2", "Logs"), logs,
  ];
}

async function functionLogs(name) {
  try {
    const out = await call("logs", "FilterLogEvents", { logGroupName: `/aws/lambda/${name}`, limit: 200 });
    const events = list(out.events);
    if (!events.length) return h("p.muted", "No log events yet.");
    return h("pre", events.map((e) => `${when(e.timestamp)}  ${e.message.replace(/\n$/, "")}\n`).join(""));
  } catch (e) {
    return e.code === "ResourceNotFoundException" ? h("p.muted", "No log group yet (the function has not run).") : errorBox(e);
  }
}

// -- DynamoDB --

async function dynamoTables() {
  const names = list((await call("dynamodb", "ListTables")).TableNames);
  const rows = await Promise.all(names.map(async (n) => {
    const t = (await call("dynamodb", "DescribeTable", { TableName: n }).catch(() => ({}))).Table || {};
    return h("tr", h("td", h("a", { href: `#/dynamodb/${enc(n)}` }, n)), h("td", t.TableStatus || ""),
      h("td", keySchema(t)), h("td.num", t.ItemCount ?? ""), h("td.num", bytes(t.TableSizeBytes)));
  }));
  return [h("h1", "DynamoDB"), crumbs("Tables"), table(["Table", "Status", "Key", "#Items", "#Size"], rows, "No tables in this account and region.")];
}

const keySchema = (t) => list(t.KeySchema).map((k) => `${k.AttributeName} (${k.KeyType === "HASH" ? "partition" : "sort"})`).join(", ");

// A DynamoDB attribute value in a short readable form.
function attr(v) {
  if (!v || typeof v !== "object") return "";
  const [type, val] = Object.entries(v)[0] || [];
  switch (type) {
    case "S": case "N": return String(val);
    case "BOOL": return String(val);
    case "NULL": return "null";
    case "B": return `<${val.length * 3 / 4 | 0} bytes>`;
    case "SS": case "NS": return `{${val.join(", ")}}`;
    case "L": return `[${val.map(attr).join(", ")}]`;
    case "M": return `{${Object.entries(val).map(([k, x]) => `${k}: ${attr(x)}`).join(", ")}}`;
    default: return JSON.stringify(v);
  }
}

async function dynamoTable(name, start) {
  const t = (await call("dynamodb", "DescribeTable", { TableName: name })).Table;
  const keys = list(t.KeySchema).map((k) => k.AttributeName);
  const scanInput = { TableName: name, Limit: 50 };
  if (start) scanInput.ExclusiveStartKey = start;
  const scan = await call("dynamodb", "Scan", scanInput);
  const items = list(scan.Items);
  const columns = [...keys];
  for (const item of items) for (const k of Object.keys(item)) if (!columns.includes(k) && columns.length < 8) columns.push(k);
  const rows = items.map((item) => h("tr.item",
    columns.map((c) => h("td", h("code", attr(item[c])))),
    h("td", h("div.row",
      h("button", { onclick: () => { editor.value = JSON.stringify(item, null, 2); editor.focus(); } }, "Edit"),
      writeButton("Delete", async () => {
        const key = Object.fromEntries(keys.map((k) => [k, item[k]]));
        if (!confirm(`Delete the item ${JSON.stringify(key)}?`)) return;
        await guarded(() => call("dynamodb", "DeleteItem", { TableName: name, Key: key }));
        render();
      }, ".danger")))));
  const example = Object.fromEntries(list(t.KeySchema).map((k) => {
    const type = list(t.AttributeDefinitions).find((d) => d.AttributeName === k.AttributeName)?.AttributeType || "S";
    return [k.AttributeName, { [type]: type === "N" ? "1" : "value" }];
  }));
  const editor = h("textarea#item-editor", { rows: 6 }, JSON.stringify(example, null, 2));
  const put = writeButton("Put item", async () => {
    let item;
    try { item = JSON.parse(editor.value); } catch (e) { alert(`Not JSON: ${e.message}`); return; }
    await guarded(() => call("dynamodb", "PutItem", { TableName: name, Item: item }));
    render();
  }, ".primary");
  const more = scan.LastEvaluatedKey
    ? h("button", { onclick: async () => main.replaceChildren(...[await dynamoTable(name, scan.LastEvaluatedKey)].flat(Infinity).filter(Boolean)) }, "Next page")
    : null;
  return [
    h("h1", name), crumbs(["Tables", "#/dynamodb"], name),
    h("div.panel", kv([["ARN", t.TableArn], ["Status", t.TableStatus], ["Key", keySchema(t)], ["Items", t.ItemCount],
      ["Billing", t.BillingModeSummary?.BillingMode || "PROVISIONED"],
      ["Indexes", [...list(t.GlobalSecondaryIndexes), ...list(t.LocalSecondaryIndexes)].map((i) => i.IndexName).join(", ")],
      ["Stream", t.LatestStreamArn && `${t.StreamSpecification?.StreamViewType || ""} ${t.LatestStreamArn}`]])),
    h("h2", `Items (${items.length}${scan.LastEvaluatedKey ? "+" : ""})`),
    table([...columns, ""], rows, "The table is empty."), more,
    h("h2", "Put an item (DynamoDB JSON)"), h("div.panel", editor, h("div.row", { style: "margin-top:8px" }, put)),
  ];
}

// -- SNS --

async function snsTopics() {
  const topics = list((await call("sns", "ListTopics")).Topics?.member);
  const rows = await Promise.all(topics.map(async ({ TopicArn }) => {
    const a = attrsOf((await call("sns", "GetTopicAttributes", { TopicArn }).catch(() => ({}))).Attributes);
    return h("tr", h("td", h("a", { href: `#/sns/${enc(TopicArn)}` }, lastPart(TopicArn))),
      h("td.num", a.SubscriptionsConfirmed || "0"), h("td.num", a.SubscriptionsPending || "0"), h("td", h("code", TopicArn)));
  }));
  return [h("h1", "SNS"), crumbs("Topics"), table(["Topic", "#Confirmed", "#Pending", "ARN"], rows, "No topics in this account and region.")];
}

// Query-protocol maps: {entry: [{key, value}]} → {key: value}.
const attrsOf = (m) => Object.fromEntries(list(m?.entry).map((e) => [e.key, e.value]));

async function snsTopic(arn) {
  const subs = list((await call("sns", "ListSubscriptionsByTopic", { TopicArn: arn })).Subscriptions?.member);
  const rows = subs.map((s) => h("tr", h("td", s.Protocol), h("td", h("code", s.Endpoint)), h("td", h("code.muted", lastPart(s.SubscriptionArn)))));
  const message = h("textarea#publish-message", { rows: 4, placeholder: "Message" });
  const publish = writeButton("Publish", async () => {
    const input = { TopicArn: arn, Message: message.value };
    if (arn.endsWith(".fifo")) { input.MessageGroupId = "console"; input.MessageDeduplicationId = String(Date.now()); }
    const out = await guarded(() => call("sns", "Publish", input));
    message.value = "";
    alert(`Published ${out.MessageId}`);
  }, ".primary");
  return [h("h1", lastPart(arn)), crumbs(["Topics", "#/sns"], lastPart(arn)), h("div.panel", kv([["ARN", arn]])),
    h("h2", "Subscriptions"), table(["Protocol", "Endpoint", "Subscription"], rows, "No subscriptions."),
    h("h2", "Publish"), h("div.panel", message, h("div.row", { style: "margin-top:8px" }, publish))];
}

// -- EventBridge --

async function eventsRules() {
  const buses = list((await call("events", "ListEventBuses")).EventBuses);
  const sections = await Promise.all(buses.map(async (b) => {
    const rules = list((await call("events", "ListRules", { EventBusName: b.Name })).Rules);
    const rows = rules.map((r) => h("tr", h("td", h("a", { href: `#/events/${enc(b.Name)}/${enc(r.Name)}` }, r.Name)),
      h("td", r.State), h("td", h("code", r.ScheduleExpression || r.EventPattern || ""))));
    return [h("h2", `Bus ${b.Name}`), table(["Rule", "State", "Pattern or schedule"], rows, "No rules on this bus.")];
  }));
  return [h("h1", "EventBridge"), crumbs("Buses and rules"), sections];
}

async function eventsRule(bus, name) {
  const r = await call("events", "DescribeRule", { Name: name, EventBusName: bus });
  const targets = list((await call("events", "ListTargetsByRule", { Rule: name, EventBusName: bus })).Targets);
  const rows = targets.map((t) => h("tr", h("td", t.Id), h("td", h("code", t.Arn)),
    h("td", h("code", t.Input || t.InputPath || (t.InputTransformer ? JSON.stringify(t.InputTransformer) : "")))));
  return [h("h1", name), crumbs(["Buses and rules", "#/events"], bus, name),
    h("div.panel", kv([["ARN", r.Arn], ["State", r.State], ["Schedule", r.ScheduleExpression], ["Description", r.Description]])),
    r.EventPattern ? [h("h2", "Event pattern"), h("pre", pretty(r.EventPattern))] : null,
    h("h2", "Targets"), table(["Id", "Target", "Input"], rows, "No targets.")];
}

// -- ECR --

async function ecrRepositories() {
  const repos = list((await call("ecr", "DescribeRepositories")).repositories);
  const rows = repos.map((r) => h("tr", h("td", h("a", { href: `#/ecr/${enc(r.repositoryName)}` }, r.repositoryName)),
    h("td", h("code", r.repositoryUri)), h("td", when(r.createdAt))));
  return [h("h1", "ECR"), crumbs("Repositories"), table(["Repository", "URI", "Created"], rows, "No repositories in this account and region.")];
}

async function ecrRepository(name) {
  const images = list((await call("ecr", "DescribeImages", { repositoryName: name })).imageDetails);
  const rows = images.map((i) => h("tr", h("td", list(i.imageTags).join(", ") || h("span.muted", "untagged")),
    h("td", h("code", i.imageDigest)), h("td.num", bytes(i.imageSizeInBytes)), h("td", when(i.imagePushedAt))));
  return [h("h1", name), crumbs(["Repositories", "#/ecr"], name), table(["Tags", "Digest", "#Size", "Pushed"], rows, "No images.")];
}

// -- CloudWatch Logs --

async function logGroups() {
  const groups = list((await call("logs", "DescribeLogGroups")).logGroups);
  const rows = groups.map((g) => h("tr", h("td", h("a", { href: `#/logs/${enc(g.logGroupName)}` }, g.logGroupName)),
    h("td", g.retentionInDays ? `${g.retentionInDays} days` : "never expires"), h("td.num", bytes(g.storedBytes)), h("td", when(g.creationTime))));
  return [h("h1", "CloudWatch Logs"), crumbs("Log groups"), table(["Log group", "Retention", "#Stored", "Created"], rows, "No log groups in this account and region.")];
}

async function logStreams(group) {
  const streams = list((await call("logs", "DescribeLogStreams", { logGroupName: group, orderBy: "LastEventTime", descending: true, limit: 50 })).logStreams);
  const rows = streams.map((s) => h("tr", h("td", h("a", { href: `#/logs/${enc(group)}/${enc(s.logStreamName)}` }, s.logStreamName)),
    h("td", when(s.lastEventTimestamp)), h("td", when(s.creationTime))));
  return [h("h1", group), crumbs(["Log groups", "#/logs"], group), table(["Stream", "Last event", "Created"], rows, "No streams.")];
}

async function logEvents(group, stream) {
  const out = await call("logs", "GetLogEvents", { logGroupName: group, logStreamName: stream, startFromHead: false, limit: 500 });
  const events = list(out.events);
  return [h("h1", stream), crumbs(["Log groups", "#/logs"], [group, `#/logs/${enc(group)}`], stream),
    events.length ? h("pre", events.map((e) => `${when(e.timestamp)}  ${e.message.replace(/\n$/, "")}\n`).join("")) : h("p.muted", "No events.")];
}

// -- IAM --

async function iamPage(tab) {
  const tabs = { roles: "Roles", users: "Users", groups: "Groups", policies: "Policies" };
  const nav = h("div.tabs", Object.entries(tabs).map(([k, v]) => h(`a${k === tab ? ".active" : ""}`, { href: `#/iam/${k}` }, v)));
  let content;
  if (tab === "users") {
    const users = list((await call("iam", "ListUsers")).Users?.member);
    content = table(["User", "ARN", "Created"], users.map((u) => h("tr", h("td", u.UserName), h("td", h("code", u.Arn)), h("td", when(u.CreateDate)))), "No users.");
  } else if (tab === "groups") {
    const groups = list((await call("iam", "ListGroups")).Groups?.member);
    content = table(["Group", "ARN", "Created"], groups.map((g) => h("tr", h("td", g.GroupName), h("td", h("code", g.Arn)), h("td", when(g.CreateDate)))), "No groups.");
  } else if (tab === "policies") {
    const policies = list((await call("iam", "ListPolicies", { Scope: "Local" })).Policies?.member);
    content = table(["Policy", "ARN", "#Attachments"], policies.map((p) => h("tr", h("td", p.PolicyName), h("td", h("code", p.Arn)), h("td.num", p.AttachmentCount))), "No customer managed policies.");
  } else {
    const roles = list((await call("iam", "ListRoles")).Roles?.member);
    content = table(["Role", "ARN", "Created"], roles.map((r) => h("tr", h("td", r.RoleName), h("td", h("code", r.Arn)), h("td", when(r.CreateDate)))), "No roles.");
  }
  return [h("h1", "IAM"), h("p.muted", "IAM is global: the account above applies, the region does not. Policies are stored, not enforced."), nav, content];
}

// -- Request log --

function requestRow(r) {
  const status = h(`td.num.status-${String(r.status)[0]}`, r.status);
  return h(`tr.request-row${r.origin === "console" ? ".console" : ""}`,
    { dataset: { id: r.id, service: r.service, operation: r.operation || "", origin: r.origin } },
    h("td", h("span.mono", r.time.slice(11, 23))), h("td", r.service), h("td", r.operation || h("span.muted", "-")), status,
    h("td.num", r.ms.toFixed(2)), h("td", r.account), h("td", r.region), h("td", h("span.mono", r.client)));
}

function requestLog() {
  const body = h("tbody#requests");
  const detail = h("div#request-detail", h("p.muted", "Select a request to see its headers and bodies."));
  const showConsole = h("input#show-console", { type: "checkbox" });
  const count = h("span.muted#request-count");
  let paused = false;
  const pause = h("button", { onclick: () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; } }, "Pause");
  const visible = (tr) => showConsole.checked || tr.dataset.origin !== "console";
  const refresh = () => {
    for (const tr of body.children) tr.hidden = !visible(tr);
    count.textContent = `${[...body.children].filter((tr) => !tr.hidden).length} shown`;
  };
  showConsole.addEventListener("change", refresh);
  body.addEventListener("click", async (ev) => {
    const tr = ev.target.closest("tr.request-row");
    if (!tr) return;
    for (const s of body.querySelectorAll(".selected")) s.classList.remove("selected");
    tr.classList.add("selected");
    detail.replaceChildren(h("p.muted", "Loading…"));
    try { detail.replaceChildren(requestDetail(await api(`requests/${tr.dataset.id}`))); } catch (e) { detail.replaceChildren(errorBox(e)); }
  });
  const source = new EventSource(API + "requests/stream");
  state.stream = source;
  source.addEventListener("request", (ev) => {
    if (paused) return;
    const tr = requestRow(JSON.parse(ev.data));
    tr.hidden = !visible(tr);
    body.prepend(tr);
    while (body.children.length > 500) body.lastChild.remove();
    count.textContent = `${[...body.children].filter((t) => !t.hidden).length} shown`;
  });
  const live = h("span.badge#stream-state", "connecting…");
  source.addEventListener("open", () => { live.textContent = "live"; live.classList.add("write"); });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.classList.remove("write"); });
  return [
    h("h1", "Request log"),
    h("p.muted", "Every AWS request Skyport serves, newest first. Bodies (their first 64 KiB) are captured while this page is open."),
    h("div.row", live, pause, h("label", showConsole, " show the console's own requests"), count),
    h("div.split", { style: "margin-top:10px" },
      h("div.scroll", h("table.requests", h("thead", h("tr", ["Time", "Service", "Operation", "Status", "ms", "Account", "Region", "Client"].map((x) => h("th", x)))), body)),
      detail),
  ];
}

function requestDetail(r) {
  const part = (title, m) => {
    if (!m) return null;
    const headers = Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`).join("\n");
    const note = `${bytes(m.size)}${m.truncated ? ", first 64 KiB shown" : ""}${m.complete ? "" : ", still streaming or not read"}`;
    const content = m.text !== undefined ? pretty(m.text) : m.base64 ? `(binary, base64) ${m.base64.slice(0, 4000)}` : "";
    return [h("h2", title), h("pre", headers), h("p.muted", `Body: ${note}`), content ? h("pre.body", content) : null];
  };
  return h("div.panel",
    h("b", `${r.service}.${r.operation || "-"} → ${r.status}`),
    kv([["Time", r.time], ["Duration", `${r.ms.toFixed(2)} ms`], ["Request", `${r.method} ${r.path}`], ["Request id", r.request_id],
      ["Account", r.account], ["Region", r.region], ["Client", r.client], ["From", r.origin]]),
    r.detail ? [part("Request", r.request), part("Response", r.response)]
      : h("p.muted", "No headers or bodies: nobody watched the log when it was served, or it is too old."));
}

// ---- routing -------------------------------------------------------------------------------------

let generation = 0;

async function render() {
  const mine = ++generation;
  if (state.stream) { state.stream.close(); state.stream = null; }
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const page = parts[0] || "";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.nav === page);
  const handler = pages[page];
  main.replaceChildren(h("p.muted", "Loading…"));
  let content;
  try {
    content = handler ? await handler(parts.slice(1), new URLSearchParams(query || "")) : [h("h1", "Not found")];
  } catch (e) {
    content = [h("h1", page || "Overview"), errorBox(e)];
  }
  if (mine !== generation) return; // a newer navigation won
  main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
  document.body.dataset.page = page || "overview";
}

async function start() {
  const account = document.getElementById("account");
  const region = document.getElementById("region");
  account.value = state.account;
  region.value = state.region;
  const apply = () => {
    state.account = account.value.trim() || "000000000000";
    state.region = region.value.trim() || "us-east-1";
    localStorage.setItem("skyport.account", state.account);
    localStorage.setItem("skyport.region", state.region);
    render();
  };
  account.addEventListener("change", apply);
  region.addEventListener("change", apply);
  try {
    state.info = await api("info");
    document.getElementById("version").textContent = `v${state.info.version}`;
    const mode = document.getElementById("mode");
    mode.textContent = state.info.write ? "read-write" : "read-only";
    mode.title = state.info.write ? "SKYPORT_CONSOLE_WRITE=1" : "start Skyport with SKYPORT_CONSOLE_WRITE=1 to change resources from here";
    if (state.info.write) mode.classList.add("write");
  } catch (e) {
    main.replaceChildren(errorBox(e));
    return;
  }
  window.addEventListener("hashchange", render);
  await render();
}

start();
