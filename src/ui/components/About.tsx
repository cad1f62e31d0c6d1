/**
 * "What is this": the data (the built-in task is spam detection), what ALUM is, the paper, and the four
 * perturbation variants with the sizes `npm run variants` measured (README, "The four perturbation
 * variants, measured"). A disclosure whose open state the lesson remembers.
 */
import { useAppStore } from '../store/store.ts';
import { Panel } from './Panel.tsx';

/** Measured on the tiny model of the default task (README table; mean over 8 batches of 32 x 64). */
const VARIANTS: readonly { name: string; update: string; linf: string; kl: string }[] = [
  { name: 'paper', update: 'Π_ε(δ + η g / ‖g‖)', linf: '9.50e-3', kl: '4.56e-7 → 0.0153' },
  {
    name: 'paper-raw',
    update: 'Π_ε(δ + η g) (Algorithm 1 as printed)',
    linf: '2.83e-5',
    kl: '3.99e-3 → 3.34e-3',
  },
  {
    name: 'mtdnn-2020',
    update: 'a += η g / (‖g‖ + 1e-6), noise dropped',
    linf: '2.83e-4',
    kl: '0.0306 → 0.0146',
  },
  {
    name: 'mtdnn-head',
    update: '(δ + η g) / ‖δ + η g‖: unit norm per token',
    linf: '0.965',
    kl: '1.25 → 0.290',
  },
];

export function About() {
  const open = useAppStore((s) => s.lesson.panels.includes('about'));
  return (
    <Panel panel="about" className="about" testId="panel.about" open={open} title="What is this?">
      <p>
        <b>The data.</b> The built-in task is <b>spam</b> detection: emails from the SpamAssassin public
        corpus, each labelled <i>spam</i> or <i>ham</i> (not spam). About 70% of the dev emails are ham, so a
        model that always answers ham already scores about 0.70: learning starts above that line. You can load
        your own data instead (Load data).
      </p>
      <p>
        <b>ALUM</b> (Adversarial training for large neural LangUage Models) trains the model on its task and,
        at the same time, on a small perturbation δ of its word embeddings chosen to change its predictions
        the most: a few steps of gradient ascent find δ inside a ball of radius ε, and the symmetric KL
        between the clean and perturbed predictions, weighted by α, is added to the task loss. The model
        learns to give the same answer to nearby inputs.
      </p>
      <p>
        Paper: Liu et al. 2020,{' '}
        <a href="https://arxiv.org/abs/2004.08994" target="_blank" rel="noreferrer">
          Adversarial Training for Large Neural Language Models (arXiv 2004.08994)
        </a>
        .
      </p>
      <table data-testid="about.variants">
        <caption>
          The four ascent updates, measured by <code>npm run variants</code> on the tiny model with each
          variant's preset (README): mean per-token ‖δ‖∞ (mean |embedding| is 0.80) and the inner loss
        </caption>
        <thead>
          <tr>
            <th scope="col">variant</th>
            <th scope="col">update of δ</th>
            <th scope="col">‖δ‖∞</th>
            <th scope="col">inner loss before → after</th>
          </tr>
        </thead>
        <tbody>
          {VARIANTS.map((v) => (
            <tr key={v.name}>
              <th scope="row">
                <code>{v.name}</code>
              </th>
              <td>{v.update}</td>
              <td>{v.linf}</td>
              <td>{v.kl}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}
