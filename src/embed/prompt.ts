// Prompt templates for embedding, as LCO-Emb and sentence-transformers use
// them. A template is a string with one `{text}` where the item goes:
//
//   none   "{text}"
//   lco    "{text}\nSummarize the above text in one word:"   (LCO-Emb's text prompt)
//   any other string containing {text} exactly once
//
// Items with an image use the image's placeholder "<image>" (image-rows.ts)
// and a template per modality; LCO-Emb's are
//   image        "<image>\nSummarize the above image in one word:"
//   image+text   "<image>{text}\nSummarize the above in one word:"
// 'none' puts "<image>" or "<image>{text}" alone, and a custom template gets
// "<image>" or "<image>{text}" in place of its {text}.
//
// LCO-Emb puts the prompt inside the model's chat template with the assistant
// turn opened, so the pooled last token is the last token of the generation
// prompt. `chat: 'chatml'` does that with ChatML
//   <|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n
// (Qwen2's and the built-in tokenizer's format); the tokenizer must have
// <|im_start|> and <|im_end|> as added tokens.

export const PROMPTS: Record<string, string> = {
  none: '{text}',
  lco: '{text}\nSummarize the above text in one word:',
};

export type Modality = 'text' | 'image' | 'image+text';

const IMAGE_PROMPTS: Record<string, Record<Exclude<Modality, 'text'>, string>> = {
  none: { image: '<image>', 'image+text': '<image>{text}' },
  lco: { image: '<image>\nSummarize the above image in one word:', 'image+text': '<image>{text}\nSummarize the above in one word:' },
};

export type ChatFormat = 'none' | 'chatml';

export class PromptError extends Error {
  override name = 'PromptError';
}

/**
 * The template for a name ('none', 'lco') or a custom string with one {text},
 * for items of the given modality (an image-only template has no {text}).
 */
export function resolvePrompt(prompt: string, modality: Modality = 'text'): string {
  if (modality !== 'text') {
    const named = IMAGE_PROMPTS[prompt]?.[modality];
    if (named !== undefined) return named;
    return resolvePrompt(prompt).replace('{text}', modality === 'image' ? '<image>' : '<image>{text}');
  }
  const t = PROMPTS[prompt] ?? prompt;
  const n = t.split('{text}').length - 1;
  if (n !== 1) {
    throw new PromptError(`prompt ${JSON.stringify(prompt)} must be ${Object.keys(PROMPTS).join(' or ')}, or a template with {text} exactly once (found ${n})`);
  }
  return t;
}

/** The text the model reads for one item. */
export function applyPrompt(template: string, text: string, chat: ChatFormat = 'none'): string {
  const body = template.replace('{text}', () => text); // a function: "$&" in the text stays literal
  return chat === 'chatml' ? `<|im_start|>user\n${body}<|im_end|>\n<|im_start|>assistant\n` : body;
}
