"""One module per lecture topic. Each imports only the core, the families and the data, never another app.

========================  =======  ==========================================================
module                    lecture  what it holds
========================  =======  ==========================================================
:mod:`.fewshot`           02, 03   nearest class mean, class encoders, the NCM-start hypernetwork
:mod:`.maml`              03       MAML and first-order MAML on the same target description
:mod:`.bayes`             06       prior, likelihoods, ELBO training; deep ensembles, MC dropout
:mod:`.uncertainty`       06       predictive distributions, NLL, ECE, AUROC
:mod:`.continual`         07       the output-regularised hypernetwork learner, fine-tuning, EWC
:mod:`.archsearch`        08       SMASH over a space of MLPs
:mod:`.hyperopt`          08       best-response hypernetworks for a hyperparameter
:mod:`.inr`               09       implicit neural representations and their hypernetwork autoencoder
:mod:`.adapters`          10       a tiny transformer and text-to-LoRA adapters
========================  =======  ==========================================================
"""
