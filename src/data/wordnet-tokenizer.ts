// The built-in tokenizer: byte-level BPE (SmolLM2-style Digits + ByteLevel
// pre-tokenization) trained on the training split of the WordNet corpus.
// fixtures/make-wordnet-tokenizer.ts writes it to fixtures/wordnet/tokenizer.json.
import { readWordNet, splitOf, synsetText, type Synset } from './wordnet.ts';
import { trainBpe, type TrainedTokenizerJson } from '../io/tokenizer.ts';

/** End of text (also BOS and padding) and a chat turn pair. */
export const WORDNET_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

export const WORDNET_VOCAB = 4096;

export async function trainWordNetTokenizer(vocabSize = WORDNET_VOCAB, synsets?: Synset[]): Promise<TrainedTokenizerJson> {
  const all = synsets ?? (await readWordNet());
  const train = all.filter((s) => splitOf(s) === 'train').map(synsetText);
  return trainBpe(train, { vocabSize, specialTokens: WORDNET_SPECIALS, preTokenizer: 'smollm' });
}
