import type { ChoreographyListFilter, ChoreographyView } from "../choreography/choreography-view.js";
import type { SagaRow, SagaStepRow } from "../store/saga-row.js";
import type { SagaListFilter } from "../store/saga-store.js";

/** What the saga API needs of an orchestrator (an `Orchestrator` fits). */
export interface SagaAdmin {
  list(filter?: SagaListFilter): Promise<SagaRow[]>;
  get(id: string): Promise<{ saga: SagaRow; steps: SagaStepRow[] } | undefined>;
  resume(id: string): Promise<SagaRow>;
  abort(id: string, reason?: string): Promise<SagaRow>;
  /** Unfinished sagas of types not registered here, by type, read now. */
  scanUnknownTypes(): Promise<ReadonlyMap<string, number>>;
}

/** What the saga API needs of a choreography tracker (a `ChoreographyTracker` fits). */
export interface ChoreographyQuery {
  list(filter?: ChoreographyListFilter): Promise<ChoreographyView[]>;
  get(correlationId: string): Promise<ChoreographyView | undefined>;
}

/**
 * Where the saga API reads sagas from: an orchestrator, or an orchestrator and a choreography
 * tracker, so that choreographed sagas are listed and shown the same way.
 */
export type SagaApiSource =
  | SagaAdmin
  | { readonly orchestrator: SagaAdmin; readonly tracker?: ChoreographyQuery };
