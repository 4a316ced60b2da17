//! kubecred's kubeconfig source: the API server and credentials of a kubeconfig's context, as
//! kubectl reads them, with exec credential plugins.

mod exec;
