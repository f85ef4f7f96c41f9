package org.distillery.core.tracking;

/** MLflow's terminal run states. */
public enum RunStatus { FINISHED, FAILED, KILLED }
