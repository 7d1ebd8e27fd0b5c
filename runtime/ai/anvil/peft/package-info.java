/**
 * Parameter-efficient fine-tuning: methods that adapt a frozen base model by training a few parameters
 * of their own, and serve many adaptations from one copy of the base.
 *
 * <ul>
 *   <li>{@link ai.anvil.peft.lora.LoraModel}: LoRA on Linear layers picked by name, regex or all-linear;
 *       merge/unmerge; PEFT adapter folders both ways. {@link ai.anvil.peft.lora.LoraBank}: many LoRA
 *       adapters on one base, one per request or one per batch row in a single forward.
 *   <li>{@link ai.anvil.peft.adapter.HoulsbyAdapters}: bottleneck adapters after attention and MLP.
 *   <li>{@link ai.anvil.peft.prompt.PromptTuning} and {@link ai.anvil.peft.prompt.PrefixTuning}: soft
 *       prompts and per-layer key/value prefixes, saved as PEFT saves them.
 *   <li>For a task head's body (models.heads, any of BERT or GPT): {@link ai.anvil.peft.adapter.OutputAdapters}
 *       (Houlsby bottlenecks as LinearDeltas on the sublayer output projections),
 *       {@link ai.anvil.peft.prompt.SoftPrompt} with {@link ai.anvil.peft.prompt.PromptedEncoder} (BERT) or as
 *       the GPT's extension, {@link ai.anvil.peft.prompt.KeyValuePrefix} (GPT) and
 *       {@link ai.anvil.peft.prompt.BertPrefix} (BERT, through PromptedEncoder): plain Modules that the
 *       classifier ({@code train.finetune}) names and saves itself.
 * </ul>
 *
 * <p>How they reach into a model without changing its code: LoRA installs an
 * {@link ai.anvil.nn.LinearDelta} on each target {@link ai.anvil.nn.Linear} (so it works on any model
 * built from Linear layers); the others implement {@link ai.anvil.models.gpt.GptExtension}, whose points
 * both GPT forward paths (training/scoring and cached decoding) honour. Every method is a
 * {@link ai.anvil.peft.PeftModel}: a Module whose tree holds the frozen base under
 * {@code base_model.model.} and the method's parameters under PEFT's names, given to the Trainer as is.
 * A whole fine-tuning run (data, validation, early stopping, best weights) is
 * {@link ai.anvil.train.finetune.Finetuning}.
 */
package ai.anvil.peft;
